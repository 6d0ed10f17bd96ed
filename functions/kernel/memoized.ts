/**
 * `memoized`: how every context's composition root (`functions/<context>/deps.ts`) builds its parts:
 * on first use (the environment is read then, not at import, so a module can be loaded where the
 * function's variables are not set), once per warm container, and again only when `keyOf` answers
 * something else (tests and the crash matrix point a context at a table of their own).
 */
export function memoized<T>(build: () => T, keyOf: () => string = () => ''): () => T {
  let built: { readonly key: string; readonly value: T } | undefined;
  return () => {
    const key = keyOf();
    if (built?.key !== key) built = { key, value: build() };
    return built.value;
  };
}
