import { html as htmlSpec, parse, serialize, type DefaultTreeAdapterTypes as Tree } from 'parse5';
import { cleanUrl, mapUrl, type PageContext, type UrlUse } from './tab-path.ts';
import { rewriteCss } from './rewrite-css.ts';

/**
 * The onion tab's pages, rewritten so that what they name reaches the worker (and so Tor). The page
 * is parsed by a real HTML5 parser (parse5) into the tree the browser builds (foreign content: SVG
 * and MathML, templates, <noscript> as the sandboxed page reads it with scripting disabled), URLs
 * are rewritten on that tree, and the tree is serialized again. Links of the top document navigate
 * the tab; everything else (frames, subresources, links inside frames) stays in the tab's first
 * party (tab-path.ts). What can make the browser leave the tab is removed: targets other than the
 * page itself or one of its frames, scripts and event handlers, ping, attributionsrc, xml:base,
 * referrer policies (the worker reads the referrer to know who navigates: web-proxy.ts).
 *
 * This is defence in depth, not the guarantee: the frame is sandboxed (no scripts, no popups, no
 * top navigation), the worker sets a strict CSP, and declarativeNetRequest blocks every request and
 * navigation an extension page makes to the network (onion-routing.ts).
 */

const NS = htmlSpec.NS;

/** Attributes whose value is one URL the browser loads or navigates to (in any namespace). */
const URL_ATTRS = new Set(['href', 'xlink:href', 'src', 'action', 'formaction', 'poster', 'data', 'background', 'cite', 'longdesc', 'icon', 'manifest', 'codebase', 'usemap', 'lowsrc', 'dynsrc', 'profile', 'classid', 'archive', 'itemtype']);
const SRCSET_ATTRS = new Set(['srcset', 'imagesrcset']);
/** Attributes removed wherever they are: they could only send something out or change how URLs resolve. */
const DROPPED_ATTRS = new Set(['ping', 'attributionsrc', 'xml:base', 'referrerpolicy']);
/** SVG animation elements: they can set an attribute (an href) to a value of their own (SMIL). */
const SMIL = new Set(['set', 'animate', 'animatecolor', 'animatemotion', 'animatetransform']);
const SMIL_VALUE_ATTRS = new Set(['from', 'to', 'by', 'values']);
/** Elements whose URL attribute replaces the document they are in (a link, a form). */
const NAVIGATING = new Set(['a', 'area', 'form', 'button', 'input']);
/** Elements whose URL attribute puts a document in a frame. */
const FRAMING = new Set(['iframe', 'frame', 'object', 'embed', 'portal', 'fencedframe']);

type Element = Tree.Element;
type ParentNode = Tree.ParentNode;

const attrName = (a: { name: string; prefix?: string }) => (a.prefix ? `${a.prefix}:${a.name}` : a.name).toLowerCase();
const get = (el: Element, name: string) => el.attrs.find((a) => attrName(a) === name)?.value;
const isElement = (n: Tree.ChildNode | Tree.ParentNode): n is Element => 'tagName' in n;

function* elements(node: ParentNode): Generator<Element> {
  for (const child of node.childNodes) {
    if (!isElement(child)) continue;
    yield child;
    yield* elements(child);
    if (child.tagName === 'template' && child.namespaceURI === NS.HTML) yield* elements((child as Tree.Template).content);
  }
}

/** Rewrite a whole document (a page, or an <iframe srcdoc>) shown in the tab as `page` says. */
export function rewriteHtml(html: string, page: PageContext): string {
  const doc = parse(html, { scriptingEnabled: false });
  rewriteTree(doc, page);
  return serialize(doc);
}

function rewriteTree(doc: Tree.Document, page: PageContext): void {
  const all = [...elements(doc)];
  // The document's base: the first <base href> (the browser ignores it under base-uri 'none', so
  // relative URLs are written out absolute against it here).
  let base = page.url;
  const baseEl = all.find((el) => el.tagName === 'base' && el.namespaceURI === NS.HTML && get(el, 'href') !== undefined);
  if (baseEl) {
    try {
      const b = new URL(cleanUrl(get(baseEl, 'href')!), page.url);
      if (b.protocol === 'http:' || b.protocol === 'https:') base = b;
    } catch { /* an unusable base changes nothing, as in the browser */ }
  }
  // Targets a link may keep: the page itself, or one of its own frames by name.
  const frameNames = new Set(all.filter((el) => FRAMING.has(el.tagName)).map((el) => get(el, 'name')).filter((n): n is string => !!n));
  const ids = new Map(all.map((el) => [get(el, 'id'), el] as const).filter(([id]) => id !== undefined));
  const map = (value: string, use: UrlUse) => mapUrl(value, base, page, use);
  const css = (value: string) => rewriteCss(value, (u) => map(u, 'load'));
  for (const el of all) {
    const name = el.tagName;
    if (name === 'script' || (name === 'meta' && isReferrerOrCookieMeta(el))) {
      remove(el);
      continue;
    }
    if (el === baseEl || name === 'base') {
      el.attrs = el.attrs.filter((a) => attrName(a) !== 'href' && attrName(a) !== 'target');
      continue;
    }
    // A link or form that names a frame of this page navigates that frame; any other target (a new
    // window, the top, the parent) is dropped so that it navigates this document instead.
    let intoFrame = false;
    el.attrs = el.attrs.filter((a) => {
      const n = attrName(a);
      if (n.startsWith('on') || DROPPED_ATTRS.has(n)) return false;
      if (n !== 'target' && n !== 'formtarget') return true;
      const t = a.value.trim();
      if (t === '' || t.toLowerCase() === '_self') return true;
      if (frameNames.has(t)) {
        intoFrame = true;
        return true;
      }
      return false;
    });
    const foreign = el.namespaceURI !== NS.HTML;
    const navigates = (foreign && el.namespaceURI === NS.MATHML) || NAVIGATING.has(name);
    const smilTarget = SMIL.has(name.toLowerCase()) && foreign ? smilAnimates(el, ids) : undefined;
    for (const a of el.attrs) {
      const n = attrName(a);
      if (URL_ATTRS.has(n)) {
        const link = n === 'href' || n === 'xlink:href' || n === 'action' || n === 'formaction';
        const use: UrlUse = link && navigates ? (intoFrame ? 'frame' : 'navigate') : FRAMING.has(name) && (n === 'src' || n === 'data') ? 'frame' : 'load';
        a.value = map(a.value, use);
      } else if (SRCSET_ATTRS.has(n)) {
        a.value = rewriteSrcset(a.value, (u) => map(u, 'load'));
      } else if (n === 'style') {
        a.value = css(a.value);
      } else if (n === 'srcdoc' && FRAMING.has(name)) {
        // A frame's document: its links navigate the frame, inside the tab's first party.
        a.value = rewriteHtml(a.value, { url: base, firstParty: page.firstParty, topLevel: false });
      } else if (n === 'content' && name === 'meta' && /^\s*refresh\s*$/i.test(get(el, 'http-equiv') ?? '')) {
        a.value = rewriteRefresh(a.value, (u) => map(u, 'navigate'));
      } else if (smilTarget && SMIL_VALUE_ATTRS.has(n)) {
        a.value = smilTarget.url
          ? a.value.split(';').map((v) => map(v.trim(), smilTarget.use)).join(';')
          : css(a.value);
      } else if (foreign && /url|image|src/i.test(a.value)) {
        // SVG presentation attributes (fill, filter, mask, cursor, …) take CSS values with url().
        a.value = css(a.value);
      }
    }
    if (name === 'style') {
      for (const child of el.childNodes) if (child.nodeName === '#text') (child as Tree.TextNode).value = css((child as Tree.TextNode).value);
    }
  }
}

function isReferrerOrCookieMeta(el: Element): boolean {
  if ((get(el, 'name') ?? '').trim().toLowerCase() === 'referrer') return true;
  return /^\s*set-cookie\s*$/i.test(get(el, 'http-equiv') ?? '');
}

function remove(el: Element): void {
  const parent = el.parentNode;
  if (parent) parent.childNodes = parent.childNodes.filter((c) => c !== el);
}

/**
 * What an SVG animation element changes: whether the attribute it animates is a URL, and how the
 * element that holds it uses it (a link of the page, or something loaded). The animated element is
 * the one its href names ("#id"), else its parent.
 */
function smilAnimates(el: Element, ids: Map<string | undefined, Element>): { url: boolean; use: UrlUse } {
  const attribute = (get(el, 'attributename') ?? '').trim().toLowerCase();
  const ref = (get(el, 'href') ?? get(el, 'xlink:href') ?? '').trim();
  const target = ref.startsWith('#') ? ids.get(ref.slice(1)) : el.parentNode && isElement(el.parentNode) ? el.parentNode : undefined;
  const url = URL_ATTRS.has(attribute);
  const navigating = target !== undefined && (target.tagName === 'a' || NAVIGATING.has(target.tagName) || target.namespaceURI === NS.MATHML);
  return { url, use: navigating ? 'navigate' : FRAMING.has(target?.tagName ?? '') ? 'frame' : 'load' };
}

/** HTML's srcset parser: a URL runs to whitespace (a trailing comma ends the candidate), descriptors to a comma outside parentheses. */
export function rewriteSrcset(value: string, map: (url: string) => string): string {
  const out: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (i < value.length && /[\s,]/.test(value[i]!)) i++;
    if (i >= value.length) break;
    let j = i;
    while (j < value.length && !/\s/.test(value[j]!)) j++;
    let url = value.slice(i, j);
    let descriptors = '';
    if (url.endsWith(',')) {
      url = url.replace(/,+$/, '');
    } else {
      let depth = 0;
      let k = j;
      while (k < value.length && !(value[k] === ',' && depth === 0)) {
        if (value[k] === '(') depth++;
        else if (value[k] === ')') depth = Math.max(0, depth - 1);
        k++;
      }
      descriptors = value.slice(j, k).trim();
      j = k + 1;
    }
    out.push(descriptors ? `${map(url)} ${descriptors}` : map(url));
    i = j;
  }
  return out.join(', ');
}

/** `0; url=http://…` of <meta http-equiv=refresh>: only the URL changes. */
function rewriteRefresh(value: string, map: (url: string) => string): string {
  const m = /^(\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?)(["']?)(.*?)(\2\s*)$/is.exec(value);
  if (!m || !m[3]) return value;
  return `${m[1]}${m[2]}${map(m[3])}${m[4]}`;
}
