/**
 * `memoized`: how every context's composition root (`functions/<context>/deps.ts`) builds its parts:
 * on first use (the environment is read then, not at import, so a module can be loaded where the
 * function's variables are not set), once per warm container, and again only when `keyOf` answers
 * something else (tests and the crash matrix point a context at a table of their own).
 *
 * Calling it builds nothing; each call site says so to the bundler (a `@__PURE__` comment before
 * the call), so a `deps.ts` whose parts a handler never asks for is tree-shaken out of that handler's bundle
 * with everything it imports, as a module of plain functions is. Without the annotation every
 * bundle importing a context's `index.ts` carried that context's stores (cold-start bench: up to
 * +58 KB; esbuild 0.28 did not honour `@__NO_SIDE_EFFECTS__` on this declaration across files).
 */
export function memoized<T>(build: () => T, keyOf: () => string = () => ''): () => T {
  let built: { readonly key: string; readonly value: T } | undefined;
  return () => {
    const key = keyOf();
    if (built?.key !== key) built = { key, value: build() };
    return built.value;
  };
}
