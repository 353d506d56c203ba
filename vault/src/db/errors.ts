/**
 * True when an error is a unique or primary-key violation, on either engine: Postgres SQLSTATE
 * 23505 or SQLite's extended constraint codes.
 *
 * @example
 * try { await insert(); } catch (error) { if (isUniqueViolation(error)) throw conflict(); throw error; }
 */
export function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE'
  );
}
