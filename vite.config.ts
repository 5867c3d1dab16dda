import { defineConfig, type Plugin, type UserConfig } from 'vite';
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuiltinAuthoritySet } from './extension/client/builtin-network.ts';

/**
 * Builds the MV3 extension into dist/extension, a folder Chromium loads with --load-extension and
 * web-ext lints. The service worker is one ES module bundle (the shared/ core included); the
 * manifest is copied from the top level so there is a single source for it.
 *
 * For tests of the built-in network only: TELESCOPE_BUILTIN_NETWORK=FILE (DirAuthority and
 * FallbackDir lines in torrc syntax) builds an extension whose built-in authorities are FILE's
 * instead of the public network's, into the folder `--outDir` names (never dist/extension). The
 * replacement happens here, at build time: the shipped build carries no hook for it.
 */
const root = fileURLToPath(new URL('.', import.meta.url));
const SHIPPED_OUT_DIR = 'dist/extension';

function copyManifest(): Plugin {
  return {
    name: 'telescope-manifest',
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'manifest.json', source: readFileSync(`${root}manifest.json`, 'utf8') });
    },
  };
}

/**
 * Replaces extension/client/builtin-network.ts with a module holding FILE's authorities. The file
 * is read and checked when the build starts: a line the torrc parser refuses fails the build,
 * naming it.
 */
async function builtinNetworkOverride(file: string): Promise<Plugin> {
  // The Node commands' reader of the same variable (same file syntax, same errors), loaded only
  // for such a build: the shipped one never reads a network file.
  const { builtinNetwork, BUILTIN_NETWORK_ENV } = await import('./cli/builtin-network.ts');
  const network = builtinNetwork({ [BUILTIN_NETWORK_ENV]: file });
  const set: BuiltinAuthoritySet = {
    name: 'The directory authorities built into this test build',
    source: `${BUILTIN_NETWORK_ENV}=${basename(file)}`,
    authorities: network.authorities.map(({ nickname, address, orPort, dirPort, fingerprint, v3ident }) => ({ nickname, address, orPort, dirPort, fingerprint, v3ident })),
  };
  const target = resolve(root, 'extension/client/builtin-network.ts');
  const virtual = '\0telescope-builtin-network-override';
  return {
    name: 'telescope-builtin-network-override',
    enforce: 'pre',
    configResolved(config) {
      if (resolve(config.root, config.build.outDir) === resolve(root, SHIPPED_OUT_DIR)) {
        throw new Error(`TELESCOPE_BUILTIN_NETWORK is set: build into another folder (--outDir), not ${SHIPPED_OUT_DIR}, which other tests load`);
      }
    },
    async resolveId(source, importer, options) {
      if (!source.endsWith('builtin-network.ts')) return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      return resolved?.id === target ? virtual : null;
    },
    load(id) {
      return id === virtual ? `export const BUILTIN_AUTHORITIES = ${JSON.stringify(set)};\n` : null;
    },
  };
}

const builtinOverride = process.env.TELESCOPE_BUILTIN_NETWORK;

export default defineConfig(async (): Promise<UserConfig> => ({
  root,
  publicDir: false,
  build: {
    outDir: SHIPPED_OUT_DIR,
    emptyOutDir: true,
    target: 'chrome120',
    modulePreload: false,
    sourcemap: true,
    // Not minified: an extension is installed once, not downloaded with every page, and error
    // names (each TelescopeError subclass names itself after its class) must survive for the
    // person reading a message and for the tests that match on them.
    minify: false,
    rollupOptions: {
      input: { background: `${root}extension/background.ts`, status: `${root}extension/pages/status.html`, onion: `${root}extension/pages/onion.html`, browse: `${root}extension/pages/browse.html`, popup: `${root}extension/pages/popup.html`, settings: `${root}extension/pages/settings.html` },
      output: { entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js', format: 'es' },
      // A layer's index.ts only re-exports its files. Without this, a page that imports one name
      // from a layer would keep every file of it whose top level the bundler cannot prove pure
      // (open enums, handshake registries), and pull them into the chunk the page loads.
      treeshake: { moduleSideEffects: [{ test: /\/shared\/[a-z]+\/index\.ts$/, sideEffects: false }] },
    },
  },
  plugins: [copyManifest(), ...(builtinOverride ? [await builtinNetworkOverride(builtinOverride)] : [])],
}));
