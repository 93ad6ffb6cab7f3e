// Native object → its TypeScript wrapper, for objects that native code hands back (async events).
const wrappers = new WeakMap<object, object>();

export function registerWrapper(nativeObject: object, wrapper: object): void {
  wrappers.set(nativeObject, wrapper);
}

export function wrapperOf<T>(nativeObject: unknown): T | undefined {
  return nativeObject && typeof nativeObject === 'object'
    ? (wrappers.get(nativeObject) as T | undefined)
    : undefined;
}
