/**
 * Compile-time equality of two types, for schemas that must describe a record exactly: zod
 * objects drop unknown keys silently, so a field missing from a job schema would vanish
 * inside the queue. `const _: Exact<A, B> = true` fails to compile unless A and B are equal.
 */
export type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/**
 * For the schema of a payload clients send (`Input` is its `z.input`): it reads exactly the
 * fields the contract's `Payload` names, and takes every payload the contract allows (it may
 * take more, a numeric string for a number, say). `const _: Accepts<In, P> = true` fails to
 * compile on a field renamed on either side.
 */
export type Accepts<Input, Payload> = [Payload] extends [Input] ? Exact<keyof Input, keyof Payload> : false;
