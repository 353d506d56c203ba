import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';
import type { Database, Db } from './schema.ts';

/** Stands in for a parameter while a prepared query is compiled. */
class Slot {
  constructor(readonly name: string) {}
}

/** The placeholders a prepared query is built with: one per parameter name. */
export type Slots<P> = { readonly [K in keyof P]: P[K] };

/**
 * A query built and compiled by Kysely once per dialect, then run with new parameter values.
 * Building and compiling a query costs more than running it on SQLite, so the queries on the
 * redemption path are prepared this way. The SQL is exactly what Kysely compiles (placeholders
 * are bound parameters, never spliced into the text), so it is the same code on both engines.
 *
 * @example
 * const byId = preparedQuery<{ id: string }, WebkeysTable>((db, p) =>
 *   db.selectFrom('webkeys').selectAll().where('id', '=', p.id),
 * );
 * const row = (await byId.run(trx, { id })).rows[0];
 */
export interface PreparedQuery<P, R> {
  run(db: Db, params: P): Promise<QueryResult<R>>;
}

export function preparedQuery<P extends object, R>(
  build: (db: Kysely<Database>, slots: Slots<P>) => Compilable<R>,
): PreparedQuery<P, R> {
  // Compiled SQL depends only on the dialect (and plugins, refused below); the adapter object
  // stands for the dialect of one open database and is shared by its transactions.
  const compiled = new WeakMap<object, CompiledQuery<R>>();
  const slots = new Proxy({} as Slots<P>, { get: (_target, name) => new Slot(String(name)) });
  return {
    async run(db, params) {
      const executor = db.getExecutor();
      // A plugin (withSchema, camel case...) rewrites queries per handle; one cache cannot serve it.
      if (executor.plugins.length > 0) throw new Error('prepared query: plugins are not supported');
      let query = compiled.get(executor.adapter);
      if (!query) {
        query = build(db as Kysely<Database>, slots).compile();
        compiled.set(executor.adapter, query);
      }
      const values = params as Record<string, unknown>;
      const parameters = query.parameters.map((value) => {
        if (!(value instanceof Slot)) return value;
        if (!Object.hasOwn(values, value.name) || values[value.name] === undefined)
          throw new Error(`prepared query: no value for ${value.name}`);
        return values[value.name];
      });
      return db.executeQuery<R>({ ...query, parameters });
    },
  };
}
