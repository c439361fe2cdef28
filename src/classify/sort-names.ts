// Header names in order without Array.prototype.sort: V8's sort allocates its merge state (close to
// 1 KB) on every call, whatever the length, and one request sorts a few lists of a dozen names.

/** The longest list sorted by insertion; longer ones (never seen in practice) take Array.sort. */
const INSERTION_MAX = 64;

/** Sorts `names` in place, by UTF-16 code units as the default Array.prototype.sort does; returns it. */
export function sortNames(names: string[]): string[] {
  if (names.length > INSERTION_MAX) return names.sort();
  for (let i = 1; i < names.length; i++) {
    const name = names[i] as string;
    let j = i - 1;
    while (j >= 0 && (names[j] as string) > name) {
      names[j + 1] = names[j] as string;
      j--;
    }
    names[j + 1] = name;
  }
  return names;
}
