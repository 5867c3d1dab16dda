import { defineConfig, type Plugin } from 'vite';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Builds the MV3 extension into dist/extension, a folder Chromium loads with --load-extension and
 * web-ext lints. The service worker is one ES module bundle (the shared/ core included); the
 * manifest is copied from the top level so there is a single source for it.
 */
const root = fileURLToPath(new URL('.', import.meta.url));

function copyManifest(): Plugin {
  return {
    name: 'telescope-manifest',
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'manifest.json', source: readFileSync(`${root}manifest.json`, 'utf8') });
    },
  };
}

export default defineConfig({
  root,
  publicDir: false,
  build: {
    outDir: 'dist/extension',
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
  plugins: [copyManifest()],
});
