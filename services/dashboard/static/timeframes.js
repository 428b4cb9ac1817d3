"use strict";
// Timeframes on the page: the processor's window rule (README "Timeframes",
// services/core/timeframes.py), so the page can keep the forming candle of a rolled-up timeframe
// up to date from the feed's base bars, and times written in UTC, 24 h, as precise as the
// timeframe needs. No DOM and no chart here: chart.js draws.

window.TickflowTimeframes = (() => {
  const RAW = "raw";                   // the base bars themselves

  // Start of the window holding `ts` (epoch seconds): windows are aligned to the UTC epoch, and the
  // arithmetic is on whole microseconds like Timeframe.window_start, so a base bar exactly on a
  // boundary opens the new window (the same window the processor and /api/bars/forming use).
  function windowStart(ts, seconds) {
    const micros = Math.round(ts * 1e6);
    const span = seconds * 1e6;
    return (micros - (((micros % span) + span) % span)) / 1e6;
  }

  // The forming candle after one more base bar (later than any it holds): the same candle grown,
  // or, when the bar is in a later window, a new candle (the previous window has closed).
  // open = first, high = max, low = min, close = last, volume = sum.
  function addBase(forming, bar, seconds) {
    const start = windowStart(bar.ts, seconds);
    if (forming && start === forming.ts) {
      return {
        ts: start, open: forming.open, high: Math.max(forming.high, bar.high), low: Math.min(forming.low, bar.low),
        close: bar.close, volume: forming.volume + bar.volume,  // float64 in arrival order, as the processor adds
        base_bars: forming.base_bars + 1, last_ts: bar.ts,
      };
    }
    return { ts: start, open: bar.open, high: bar.high, low: bar.low, close: bar.close, volume: bar.volume,
             base_bars: 1, last_ts: bar.ts };
  }

  const pad = (n, w = 2) => String(n).padStart(w, "0");
  const day = (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const hm = (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;

  // Base bars: time of day to a tenth of a second (they come several a second).
  function clock(ts) {
    const d = new Date(ts * 1000);
    return `${hm(d)}:${pad(d.getUTCSeconds())}.${Math.floor(d.getUTCMilliseconds() / 100)}`;
  }

  // A bar's time for a timeframe of `seconds` (null: raw), UTC: a day candle is its date, a minute
  // or hour candle its date and minute, a seconds candle adds the seconds. `short` leaves the year
  // out below a day (the narrow signal list).
  function label(ts, seconds, short = false) {
    if (seconds == null) return clock(ts);
    const d = new Date(ts * 1000);
    if (seconds % 86400 === 0) return day(d);
    const date = short ? day(d).slice(5) : day(d);
    if (seconds % 60 === 0) return `${date} ${hm(d)}`;
    return `${date} ${hm(d)}:${pad(d.getUTCSeconds())}`;
  }

  // The time axis's tick marks (lightweight-charts' TickMarkType: 0 year, 1 month, 2 day, 3 time,
  // 4 time with seconds), UTC, 24 h.
  function tick(ts, type) {
    const d = new Date(ts * 1000);
    if (type === 0) return String(d.getUTCFullYear());
    if (type === 1) return day(d).slice(0, 7);
    if (type === 2) return day(d).slice(5);
    return type === 4 ? `${hm(d)}:${pad(d.getUTCSeconds())}` : hm(d);
  }

  // A window [start, end): "2024-05-01 14:00 – 15:00", the end's date only when it differs.
  function span(start, end) {
    const a = label(start, 60);
    const b = label(end, 60);
    return `${a} – ${b.slice(0, 10) === a.slice(0, 10) ? b.slice(11) : b}`;
  }

  // What a timeframe's rows are called on the page: "base bars" or "5m candles".
  const noun = (timeframe) => (timeframe === RAW ? "base bars" : `${timeframe} candles`);

  return { RAW, windowStart, addBase, clock, label, tick, span, noun };
})();
