// Vite's `?raw` imports (text fixtures in tests); tsc does not load vite/client's types here.
declare module '*?raw' {
  const text: string;
  export default text;
}
