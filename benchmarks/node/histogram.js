'use strict';
// Latencies in 0.1 ms buckets up to 10 s (one more for anything later): constant cost per
// sample however many millions arrive, exact to 0.1 ms for the percentiles we report.

const STEP_MS = 0.1;
const BUCKETS = 100000;

class Histogram {
  constructor() {
    this.counts = new Float64Array(BUCKETS + 1);
    this.n = 0;
    this.max = -Infinity;
  }

  add(ms) {
    const i = ms <= 0 ? 0 : Math.min(BUCKETS, Math.floor(ms / STEP_MS));
    this.counts[i]++;
    this.n++;
    if (ms > this.max) this.max = ms;
  }

  quantile(q) {
    if (this.n === 0) return null;
    const rank = Math.ceil(q * this.n);
    let seen = 0;
    for (let i = 0; i <= BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return i === BUCKETS ? this.max : (i + 1) * STEP_MS; // upper bound
    }
    return this.max;
  }

  summary() {
    return {
      n: this.n,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      max: this.n ? this.max : null,
    };
  }

  sparse() {
    const out = [];
    for (let i = 0; i <= BUCKETS; i++) if (this.counts[i]) out.push([i, this.counts[i]]);
    return out;
  }

  reset() {
    this.counts.fill(0);
    this.n = 0;
    this.max = -Infinity;
  }
}

// Wall-clock milliseconds with sub-millisecond precision (all processes share one clock here).
function nowMs() {
  return performance.timeOrigin + performance.now();
}

// ISO 8601 with microseconds, as the servers stamp `time`: Date.parse keeps milliseconds only.
function isoMs(iso) {
  const dot = iso.indexOf('.');
  const ms = Date.parse(iso);
  if (dot < 0) return ms;
  let end = dot + 1;
  while (end < iso.length && iso.charCodeAt(end) >= 48 && iso.charCodeAt(end) <= 57) end++;
  const micros = iso.slice(dot + 4, Math.min(end, dot + 7)).padEnd(3, '0');
  return ms + Number(micros) / 1000;
}

module.exports = { Histogram, nowMs, isoMs, STEP_MS };
