/** One notification waiting for (or done with) delivery. Times are milliseconds since the epoch. */
export interface WebhookOutboxTable {
  /** The event id: the `webhook-id` header, the same on every attempt, for deduplication. */
  id: string;
  grant_id: string;
  url: string;
  /** The JSON body: no personal data, only the grant and the changed paths. */
  payload: string;
  attempts: number;
  next_attempt_at: number;
  /** A process delivering it holds it until then; another may take it over after. */
  locked_until: number | null;
  delivered_at: number | null;
  /** Given up: the grant was revoked or expired, or every attempt failed. */
  dropped_at: number | null;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
}
