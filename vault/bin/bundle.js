// The vault runs from one bundled JavaScript file, built from its TypeScript sources by esbuild
// when they are newer than the bundle. Running the sources through tsx instead would keep tsx's
// module loader alive on a thread of its own with its own JavaScript heap: about 45 MB of
// resident memory in every vault process, for nothing once the modules are loaded.
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const vaultRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_OUT_DIR = join(vaultRoot, 'dist');

/** The bundle, and the list of source files it was built from (to tell whether it is stale). */
function files(outDir) {
  return {
    bundle: join(outDir, 'webkey-vault.mjs'),
    inputs: join(outDir, 'webkey-vault.inputs.json'),
  };
}

/** True when the bundle exists and no file it was built from changed (or vanished) since. */
function isFresh(outDir) {
  const { bundle, inputs: inputsFile } = files(outDir);
  if (!existsSync(bundle) || !existsSync(inputsFile)) return false;
  const builtAt = statSync(bundle).mtimeMs;
  try {
    const inputs = JSON.parse(readFileSync(inputsFile, 'utf8'));
    return inputs.every((file) => statSync(join(vaultRoot, file)).mtimeMs <= builtAt);
  } catch {
    return false;
  }
}

/**
 * Bundles src/cli.ts and the workspace packages it imports (TypeScript, @webkey/*) into one ES
 * module; npm packages stay imports, resolved from node_modules as usual (better-sqlite3 is
 * native). Each file is written under a temporary name and renamed, so processes starting at the
 * same moment never load a half-written bundle.
 */
async function build(outDir) {
  const { bundle, inputs: inputsFile } = files(outDir);
  const esbuild = await import('esbuild');
  // A source saved while the build reads the sources must make the bundle stale.
  const startedAt = new Date();
  const result = await esbuild.build({
    absWorkingDir: vaultRoot,
    entryPoints: [join(vaultRoot, 'src', 'cli.ts')],
    outfile: bundle,
    write: false,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'silent',
    plugins: [
      {
        name: 'npm-packages-external',
        setup(context) {
          context.onResolve({ filter: /^[^./]/ }, (args) =>
            args.path.startsWith('@webkey/') || args.path.startsWith('node:')
              ? undefined
              : { path: args.path, external: true },
          );
        },
      },
    ],
  });
  mkdirSync(outDir, { recursive: true });
  // Relative to absWorkingDir, the vault's folder.
  const inputs = Object.keys(result.metafile.inputs);
  const outputs = [
    ...result.outputFiles.map((file) => [file.path, file.contents]),
    [inputsFile, JSON.stringify(inputs)],
  ];
  // The bundle last, after its map and inputs: its presence means the rest is there.
  outputs.sort(([a], [b]) => Number(a === bundle) - Number(b === bundle));
  for (const [path, contents] of outputs) {
    const temporary = join(outDir, `.${process.pid}.${relative(outDir, path)}`);
    writeFileSync(temporary, contents);
    if (path === bundle) utimesSync(temporary, startedAt, startedAt);
    renameSync(temporary, path);
  }
}

/**
 * The path of an up-to-date bundle of the vault in `outDir` (default vault/dist), building it
 * first when needed; undefined when it cannot be built (esbuild missing, a read-only install), in which case the caller runs the
 * sources through tsx.
 */
export async function freshBundle(outDir = DEFAULT_OUT_DIR) {
  const { bundle } = files(outDir);
  if (isFresh(outDir)) return bundle;
  try {
    await build(outDir);
    return bundle;
  } catch (error) {
    process.stderr.write(
      `webkey-vault: running from source, the bundle could not be built: ${error.message}\n`,
    );
    return undefined;
  }
}
