/** See bundle.js. */
export function freshBundle(outDir?: string): Promise<string | undefined>;
