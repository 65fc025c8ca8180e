// Just enough semver for `gateway: '^0.1'` in plugin definitions: ^, ~, >=, exact, *.

type Version = [number, number, number];

function parse(v: string): Version | undefined {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)] : undefined;
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

export function satisfies(version: string, range: string): boolean {
  const v = parse(version);
  if (!v) return false;
  return range.split('||').some((alt) => alt.trim().split(/\s+/).every((part) => satisfiesOne(v, part)));
}

function satisfiesOne(v: Version, part: string): boolean {
  if (part === '*' || part === '' || part === 'x') return true;
  const op = /^(\^|~|>=|<=|>|<|=)?(.*)$/.exec(part)!;
  const r = parse(op[2]!);
  if (!r) return false;
  const c = compare(v, r);
  switch (op[1]) {
    case '^':
      // ^0.1.2 allows 0.1.x; ^1.2 allows 1.x.
      if (c < 0) return false;
      return r[0] > 0 ? v[0] === r[0] : r[1] > 0 ? v[0] === 0 && v[1] === r[1] : v[0] === 0 && v[1] === 0 && v[2] === r[2];
    case '~':
      return c >= 0 && v[0] === r[0] && v[1] === r[1];
    case '>=': return c >= 0;
    case '<=': return c <= 0;
    case '>': return c > 0;
    case '<': return c < 0;
    default: return c === 0;
  }
}
