/** One counter: how often `bucket` was hit in the window starting at `window_start` (ms). */
export interface RateLimitsTable {
  bucket: string;
  window_start: number;
  count: number;
}
