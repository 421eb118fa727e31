/**
 * Compile-time equality of two types, for schemas that must describe a record exactly: zod
 * objects drop unknown keys silently, so a field missing from a job schema would vanish
 * inside the queue. `const _: Exact<A, B> = true` fails to compile unless A and B are equal.
 */
export type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
