/**
 * The parts of css-tree (npm package `css-tree`, pinned) that extension/client/rewrite-css.ts uses:
 * its CSS Syntax Level 3 tokenizer and the value decoders. The package ships no types; these
 * follow its lib/tokenizer/index.js and lib/utils/*.js (3.2.1).
 */
declare module 'css-tree/tokenizer' {
  /** Calls `onToken` for each token of `source` in order, with its type and [start, end) offsets. */
  export function tokenize(source: string, onToken: (type: number, start: number, end: number) => void): void;
  export const Ident: number;
  export const Function: number;
  export const AtKeyword: number;
  export const String: number;
  export const Url: number;
  export const WhiteSpace: number;
  export const LeftParenthesis: number;
  export const RightParenthesis: number;
  export const Comment: number;
  /** The end offset of the escape starting at `offset` (the backslash). */
  export function consumeEscaped(source: string, offset: number): number;
  /** The end offset of a bad URL's remnants from `offset`. */
  export function consumeBadUrlRemnants(source: string, offset: number): number;
  export function isValidEscape(first: number, second: number): boolean;
  export function isWhiteSpace(code: number): boolean;
  export function isNonPrintable(code: number): boolean;
}

declare module 'css-tree/utils' {
  /** Decoders for the text of a token (escapes resolved) and encoders back to CSS. */
  export const ident: { decode(text: string): string };
  export const string: { decode(text: string): string; encode(value: string, apostrophe?: boolean): string };
  export const url: { decode(text: string): string };
}
