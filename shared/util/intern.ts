/**
 * Shares equal lists of strings, and equal strings, among the objects that hold them. A relay
 * family is listed identically in the microdescriptor of every member (the authorities put the
 * line in canonical form), and on the live network some families have hundreds of members: held
 * once per member, the family lists alone take tens of MB; shared, one list per family.
 */
export class ListInterner {
  private readonly lists = new Map<string, (readonly string[])[]>();
  private readonly strings = new Map<string, string>();

  /** A list equal to `list`: the one seen before if there was one, else a copy made of shared strings. */
  share(list: readonly string[]): readonly string[] {
    if (list.length === 0) return EMPTY;
    // A cheap key (no string of the whole list); equality is then checked element by element.
    const key = `${list.length}\u0000${list[0]}\u0000${list[list.length >> 1]}\u0000${list[list.length - 1]}`;
    let candidates = this.lists.get(key);
    const seen = candidates?.find((c) => sameList(c, list));
    if (seen) return seen;
    const own = Object.freeze(list.map((s) => this.string(s)));
    if (!candidates) this.lists.set(key, (candidates = []));
    candidates.push(own);
    return own;
  }

  /** A string equal to `s`, the same instance every time. */
  string(s: string): string {
    const seen = this.strings.get(s);
    if (seen !== undefined) return seen;
    this.strings.set(s, s);
    return s;
  }
}

const EMPTY: readonly string[] = Object.freeze([]);

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
