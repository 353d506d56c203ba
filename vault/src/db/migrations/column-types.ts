import type { Engine } from '../schema.ts';

/** Column types that differ between the engines. */
export function columnTypes(engine: Engine) {
  return {
    bytes: engine === 'postgres' ? ('bytea' as const) : ('blob' as const),
  };
}
