import {
  AtKeyword, Comment, consumeBadUrlRemnants, consumeEscaped, Function as FunctionToken, isNonPrintable, isValidEscape, isWhiteSpace,
  LeftParenthesis, RightParenthesis, String as StringToken, tokenize, Url, WhiteSpace,
} from 'css-tree/tokenizer';
import { ident, string as cssString, url as cssUrl } from 'css-tree/utils';

/**
 * The URLs of a style sheet or a style attribute, found by a CSS Syntax Level 3 tokenizer
 * (css-tree's) rather than by patterns: url(…) tokens whatever their escapes, url("…") and
 * src("…") functions, the strings of image-set(…) and image(…), and @import "…". Each is replaced
 * by what `map` makes of its decoded value; every other byte of the sheet stays as it was. This is
 * defence in depth: the CSP the worker sets and the network rules keep a missed URL from loading.
 */

/** Functions whose string arguments are URLs. */
const URL_STRING_FUNCTIONS = new Set(['url', 'src', 'image', 'image-set', '-webkit-image-set']);

const quote = (value: string) => cssString.encode(value);

type UrlBody = { kind: 'url'; end: number; value: string } | { kind: 'bad'; end: number } | { kind: 'quoted' };

/**
 * After a function token whose name only decodes to "url" ("u\72l(", "\75rl("), the browser reads
 * an unquoted URL as in a url token (CSS Syntax §4.3.6); css-tree compares the name as written and
 * does not, so the URL is read here.
 */
function urlBody(css: string, open: number): UrlBody {
  let q = open;
  while (q < css.length && isWhiteSpace(css.charCodeAt(q))) q++;
  if (css[q] === '"' || css[q] === "'") return { kind: 'quoted' };
  const decode = (stop: number) => cssUrl.decode(`url(${css.slice(open, stop)})`);
  for (;;) {
    if (q >= css.length) return { kind: 'url', end: q, value: decode(q) };
    const c = css.charCodeAt(q);
    if (c === 0x29) return { kind: 'url', end: q + 1, value: decode(q) };
    if (isWhiteSpace(c)) {
      let w = q;
      while (w < css.length && isWhiteSpace(css.charCodeAt(w))) w++;
      if (w >= css.length) return { kind: 'url', end: w, value: decode(q) };
      if (css.charCodeAt(w) === 0x29) return { kind: 'url', end: w + 1, value: decode(q) };
      return { kind: 'bad', end: consumeBadUrlRemnants(css, w) };
    }
    if (c === 0x22 || c === 0x27 || c === 0x28 || isNonPrintable(c)) return { kind: 'bad', end: consumeBadUrlRemnants(css, q) };
    if (c === 0x5c) {
      if (!isValidEscape(c, q + 1 < css.length ? css.charCodeAt(q + 1) : 0)) return { kind: 'bad', end: consumeBadUrlRemnants(css, q) };
      q = consumeEscaped(css, q);
      continue;
    }
    q++;
  }
}

/** `css` with each URL it names replaced by `map(url)` (the URL decoded, as the browser would read it). */
export function rewriteCss(css: string, map: (url: string) => string): string {
  const tokens: [type: number, start: number, end: number][] = [];
  tokenize(css, (type, start, end) => tokens.push([type, start, end]));
  let out = '';
  let from = 0;
  const replace = (start: number, end: number, text: string) => {
    out += css.slice(from, start) + text;
    from = end;
  };
  // The functions (and plain parentheses, as '') the current token is inside.
  const open: string[] = [];
  // After @import, the next significant token is the sheet's URL.
  let afterImport = false;
  for (let i = 0; i < tokens.length; i++) {
    const [type, start, end] = tokens[i]!;
    const raw = css.slice(start, end);
    if (type === WhiteSpace || type === Comment) continue;
    const importing = afterImport;
    afterImport = false;
    if (type === Url) {
      replace(start, end, `url(${quote(map(cssUrl.decode(raw)))})`);
    } else if (type === FunctionToken) {
      const name = ident.decode(raw.slice(0, -1)).toLowerCase();
      if (name === 'url' && !/^url\($/i.test(raw)) {
        const body = urlBody(css, end);
        if (body.kind !== 'quoted') {
          // A bad URL loads nothing; it is dropped rather than left for a parser that might differ.
          replace(start, body.end, body.kind === 'url' ? `url(${quote(map(body.value))})` : 'url()');
          while (i + 1 < tokens.length && tokens[i + 1]![1] < body.end) i++;
          continue;
        }
      }
      open.push(name);
    } else if (type === LeftParenthesis) {
      open.push('');
    } else if (type === RightParenthesis) {
      open.pop();
    } else if (type === AtKeyword) {
      afterImport = ident.decode(raw.slice(1)).toLowerCase() === 'import';
    } else if (type === StringToken && (importing || URL_STRING_FUNCTIONS.has(open.at(-1) ?? ''))) {
      replace(start, end, quote(map(cssString.decode(raw))));
    }
  }
  return out + css.slice(from);
}
