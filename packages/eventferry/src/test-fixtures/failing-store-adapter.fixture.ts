// A store adapter whose factory throws a plain error that quotes its URL (passwords and all).
export function createStoreFromUrl(url: string): never {
  throw new Error(`could not parse ${url}`);
}
