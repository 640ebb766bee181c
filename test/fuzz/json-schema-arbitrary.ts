import fc from 'fast-check'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'

// JSON Schema (the subset TypeBox and @fastify/swagger emit) → fast-check
// arbitraries: `validArbitrary` for values the schema accepts, `brokenArbitrary`
// for values it most likely refuses. Which of the two a value really is, ajv
// decides afterwards (`createValidator`): the fuzz test labels every body it
// sends by the document's own schema, not by how it was made.

export type JsonSchema = { [keyword: string]: unknown }

export interface ConvertOptions {
  /** Resolves a `$ref` ('#/components/schemas/Error', or a bare 'Error') to its schema. */
  resolve: (ref: string) => JsonSchema
  /** Realistic values for properties of these names (e-mails that exist, the password that works). */
  hints?: Record<string, fc.Arbitrary<unknown>>
}

const SAFE = Number.MAX_SAFE_INTEGER
/** Generated strings stay this far above minLength, apart from deliberate boundary values. */
const TYPICAL_LENGTH = 40
/** A maxLength up to this is also tried exactly, as a boundary value. */
const BOUNDARY_LENGTH_LIMIT = 5000

/** An ajv that knows the formats the document uses; `coerce` mirrors how the server reads path, query and headers. */
export function createAjv (options: { coerce?: boolean } = {}): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: false, coerceTypes: options.coerce ?? false, validateFormats: true })
  addFormats.default(ajv)
  return ajv
}

const defaultAjv = createAjv()
const compiled = new WeakMap<JsonSchema, ValidateFunction>()
const compiledByText = new Map<string, ValidateFunction>()

/** Inlines every $ref, so a schema compiles on its own. */
export function dereference (schema: unknown, resolve: (ref: string) => JsonSchema, seen: string[] = []): unknown {
  if (Array.isArray(schema)) return schema.map((item) => dereference(item, resolve, seen))
  if (typeof schema !== 'object' || schema === null) return schema
  const record = schema as JsonSchema
  if (typeof record.$ref === 'string') {
    if (seen.includes(record.$ref)) throw new Error(`recursive $ref ${record.$ref} is not supported`)
    const { $ref: _ref, ...siblings } = record
    return { ...(dereference(resolve(record.$ref), resolve, [...seen, record.$ref]) as JsonSchema), ...siblings }
  }
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, dereference(value, resolve, seen)]))
}

const VALUE_KEYWORDS = new Set(['const', 'enum', 'default', 'examples', 'example', 'required'])

/**
 * The schema with every object closed (`additionalProperties: false` where it says
 * nothing): a response may then carry no field its document does not describe.
 */
export function sealed (schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(sealed)
  if (typeof schema !== 'object' || schema === null) return schema
  const out: JsonSchema = {}
  for (const [keyword, value] of Object.entries(schema as JsonSchema)) {
    if (VALUE_KEYWORDS.has(keyword)) out[keyword] = value
    else if (keyword === 'properties' && typeof value === 'object' && value !== null) {
      out[keyword] = Object.fromEntries(Object.entries(value).map(([name, property]) => [name, sealed(property)]))
    } else out[keyword] = sealed(value)
  }
  if ((out.type === 'object' || out.properties !== undefined) && !('additionalProperties' in out) && !('patternProperties' in out)) out.additionalProperties = false
  return out
}

/**
 * A validator for an already dereferenced schema. Schemas are made afresh all the time
 * (every dereference, every string's leaf schema), so the default Ajv's are kept by
 * their text as well: the same schema is compiled once a run, not once per arbitrary.
 */
export function createValidator (schema: JsonSchema, ajv: Ajv = defaultAjv): ValidateFunction {
  if (ajv !== defaultAjv) return ajv.compile(schema)
  let validate = compiled.get(schema)
  if (validate) return validate
  const text = JSON.stringify(schema)
  validate = compiledByText.get(text)
  if (!validate) compiledByText.set(text, validate = ajv.compile(schema))
  compiled.set(schema, validate)
  return validate
}

/** Resolves refs for components: '#/components/schemas/X' and bare 'X' alike. */
export function componentResolver (components: Record<string, JsonSchema>): (ref: string) => JsonSchema {
  return (ref) => {
    const name = decodeURIComponent(ref.split('/').pop() ?? ref)
    const schema = components[name]
    if (!schema) throw new Error(`unresolvable $ref ${ref}`)
    return schema
  }
}

/** Text of every kind: ASCII, any grapheme, and raw code points (controls, NUL, astral). */
function text (minLength: number, maxLength: number): fc.Arbitrary<string> {
  const max = Math.max(minLength, Math.min(maxLength, minLength + TYPICAL_LENGTH))
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ minLength, maxLength: max }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength, maxLength: max }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength, maxLength: max }) }
  )
}

function typesOf (schema: JsonSchema): string[] {
  if (Array.isArray(schema.type)) return schema.type.filter((t): t is string => typeof t === 'string')
  return typeof schema.type === 'string' ? [schema.type] : []
}

const numberOr = (value: unknown, fallback: number) => (typeof value === 'number' && Number.isFinite(value) ? value : fallback)

function integerBounds (schema: JsonSchema): [number, number] {
  let min = numberOr(schema.minimum, -SAFE)
  let max = numberOr(schema.maximum, SAFE)
  if (typeof schema.exclusiveMinimum === 'number') min = Math.max(min, Math.floor(schema.exclusiveMinimum) + 1)
  if (typeof schema.exclusiveMaximum === 'number') max = Math.min(max, Math.ceil(schema.exclusiveMaximum) - 1)
  return [Math.ceil(Math.max(min, -SAFE)), Math.floor(Math.min(max, SAFE))]
}

function validInteger (schema: JsonSchema): fc.Arbitrary<number> {
  const [min, max] = integerBounds(schema)
  const candidates: Array<fc.WeightedArbitrary<number>> = [
    { weight: 2, arbitrary: fc.bigInt({ min: BigInt(min), max: BigInt(max) }).map(Number) },
    { weight: 1, arbitrary: fc.constantFrom(min, max) }
  ]
  // Small positive numbers are the ids that exist: without them every id would be a 404.
  const small = [1, 2, 3, 0].filter((n) => n >= min && n <= max)
  if (small.length > 0) candidates.push({ weight: 4, arbitrary: fc.constantFrom(...small) })
  return fc.oneof(...candidates)
}

function validNumber (schema: JsonSchema): fc.Arbitrary<number> {
  const min = numberOr(schema.minimum, -1e12)
  const max = numberOr(schema.maximum, 1e12)
  return fc.oneof(
    fc.double({ min, max, noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(min, max)
  ).filter((n) => !Object.is(n, -0) && n >= min && n <= max)
}

function validString (schema: JsonSchema): fc.Arbitrary<string> {
  const minLength = numberOr(schema.minLength, 0)
  const maxLength = numberOr(schema.maxLength, Infinity)
  const leaf: JsonSchema = { type: 'string' }
  for (const keyword of ['minLength', 'maxLength', 'pattern', 'format']) if (keyword in schema) leaf[keyword] = schema[keyword]
  const fits = createValidator(leaf)
  const candidates: Array<fc.WeightedArbitrary<string>> = []
  if (schema.format === 'email') {
    candidates.push({ weight: 4, arbitrary: fc.emailAddress() })
    candidates.push({ weight: 1, arbitrary: fc.tuple(fc.stringMatching(/^[a-z0-9]{1,20}$/), fc.constantFrom('example.test', 'EXAMPLE.org')).map(([local, domain]) => `${local}@${domain}`) })
  } else if (schema.format === 'date-time') {
    candidates.push({ weight: 1, arbitrary: fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((date) => date.toISOString()) })
  } else if (typeof schema.pattern === 'string') {
    try {
      candidates.push({ weight: 3, arbitrary: fc.stringMatching(new RegExp(schema.pattern)) })
    } catch {
      // fast-check cannot generate from lookaheads: such patterns fall back to filtered text below.
    }
    candidates.push({ weight: 2, arbitrary: text(minLength, maxLength) })
    const ids = ['1', '2', '3'].filter((id) => fits(id))
    if (ids.length > 0) candidates.push({ weight: 4, arbitrary: fc.constantFrom(...ids) })
  } else {
    candidates.push({ weight: 6, arbitrary: text(minLength, maxLength) })
  }
  // Boundaries: the longest and the shortest string allowed.
  const boundaries = [
    Number.isFinite(maxLength) && maxLength <= BOUNDARY_LENGTH_LIMIT ? 'x'.repeat(maxLength) : undefined,
    Number.isFinite(maxLength) && maxLength <= BOUNDARY_LENGTH_LIMIT ? '\u00e9'.repeat(maxLength) : undefined,
    'y'.repeat(Math.max(minLength, 1))
  ].filter((s): s is string => s !== undefined && fits(s))
  if (boundaries.length > 0) candidates.push({ weight: 1, arbitrary: fc.constantFrom(...boundaries) })
  return fc.oneof(...candidates).filter((s) => fits(s))
}

function mergeAllOf (schema: JsonSchema, options: ConvertOptions): JsonSchema {
  const parts = (schema.allOf as JsonSchema[]).map((part) => (typeof part.$ref === 'string' ? options.resolve(part.$ref) : part))
  const merged: JsonSchema = { type: 'object', properties: {}, required: [] }
  for (const part of parts) {
    Object.assign(merged.properties as JsonSchema, part.properties ?? {})
    ;(merged.required as string[]).push(...((part.required ?? []) as string[]))
    if (part.additionalProperties === false) merged.additionalProperties = false
  }
  return merged
}

/** Values the schema accepts. */
export function validArbitrary (schema: JsonSchema, options: ConvertOptions, depth = 0): fc.Arbitrary<unknown> {
  if (depth > 12) return fc.constant(null)
  if (typeof schema.$ref === 'string') return validArbitrary(options.resolve(schema.$ref), options, depth + 1)
  if ('const' in schema) return fc.constant(schema.const)
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]))
  const union = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined
  if (Array.isArray(union)) return fc.oneof(...union.map((member) => validArbitrary({ ...withoutUnion(schema), ...member }, options, depth + 1)))
  if (Array.isArray(schema.allOf)) return validArbitrary(mergeAllOf(schema, options), options, depth + 1)
  const types = typesOf(schema)
  if (types.length > 1) return fc.oneof(...types.map((type) => validArbitrary({ ...schema, type }, options, depth + 1)))
  switch (types[0]) {
    case 'string': return validString(schema)
    case 'integer': return validInteger(schema)
    case 'number': return validNumber(schema)
    case 'boolean': return fc.boolean()
    case 'null': return fc.constant(null)
    case 'array': return validArray(schema, options, depth)
    case 'object': return validObject(schema, options, depth)
    default:
      if (schema.properties) return validObject(schema, options, depth)
      return fc.jsonValue({ maxDepth: 2 })
  }
}

/** `own`, or half the time the hint for this name (a property, a parameter) when the schema takes it. */
export function hinted (name: string, schema: JsonSchema, options: ConvertOptions, own: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const hint = options.hints?.[name]
  if (!hint) return own
  const accepts = createValidator(dereference(schema, options.resolve) as JsonSchema)
  const usable = fc.sample(hint, { numRuns: 20, seed: 1 }).some((value) => accepts(value))
  return usable ? fc.oneof(own, hint.filter((value) => accepts(value))) : own
}

function withoutUnion (schema: JsonSchema): JsonSchema {
  const { anyOf: _anyOf, oneOf: _oneOf, ...rest } = schema
  return rest
}

function validArray (schema: JsonSchema, options: ConvertOptions, depth: number): fc.Arbitrary<unknown[]> {
  const minLength = numberOr(schema.minItems, 0)
  const maxLength = Math.max(minLength, Math.min(numberOr(schema.maxItems, Infinity), minLength + 4))
  const items = (typeof schema.items === 'object' && schema.items !== null && !Array.isArray(schema.items) ? schema.items : {}) as JsonSchema
  const item = validArbitrary(items, options, depth + 1)
  // uniqueItems compares values deeply, as JSON.stringify does for the plain data generated here.
  return schema.uniqueItems === true
    ? fc.uniqueArray(item, { minLength, maxLength, selector: (value) => JSON.stringify(value) })
    : fc.array(item, { minLength, maxLength })
}

function validObject (schema: JsonSchema, options: ConvertOptions, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>
  const required = (schema.required ?? []) as string[]
  const model: Record<string, fc.Arbitrary<unknown>> = {}
  for (const [name, property] of Object.entries(properties)) {
    model[name] = hinted(name, property, options, validArbitrary(property, options, depth + 1))
  }
  for (const name of required) model[name] ??= fc.jsonValue({ maxDepth: 1 })
  const record = fc.record(model, { requiredKeys: required })
  const extra = schema.additionalProperties
  if (extra === false) return record
  const extraValue = typeof extra === 'object' && extra !== null ? validArbitrary(extra as JsonSchema, options, depth + 1) : fc.jsonValue({ maxDepth: 1 })
  const extraKey = fc.string({ minLength: 1, maxLength: 12 }).filter((key) => !(key in model) && !['__proto__', 'constructor', 'prototype'].includes(key))
  return fc.tuple(record, fc.dictionary(extraKey, extraValue, { maxKeys: 2 })).map(([known, more]) => ({ ...more, ...known }))
}

/** Defines a key as an own property, `__proto__` included, so JSON.stringify writes it. */
export function withKey (value: Record<string, unknown>, key: string, field: unknown): Record<string, unknown> {
  const copy = { ...value }
  Object.defineProperty(copy, key, { value: field, enumerable: true, writable: true, configurable: true })
  return copy
}

const WRONG_TYPED: unknown[] = ['5', 5, 1.5, -1, true, false, null, [], {}, '', 'true', 'null', [1], { a: 1 }]

/** Values the schema most likely refuses: wrong types, values out of bounds, fields missing or unknown. */
export function brokenArbitrary (schema: JsonSchema, options: ConvertOptions, depth = 0): fc.Arbitrary<unknown> {
  if (typeof schema.$ref === 'string') return brokenArbitrary(options.resolve(schema.$ref), options, depth + 1)
  // A wrong type is one kind of broken among several: the type's own ways of being broken weigh more.
  const candidates: Array<fc.WeightedArbitrary<unknown>> = [{ weight: 1, arbitrary: fc.constantFrom(...WRONG_TYPED) }]
  const add = (arbitrary: fc.Arbitrary<unknown>) => candidates.push({ weight: 3, arbitrary })
  if ('const' in schema || Array.isArray(schema.enum)) add(fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('ADMIN', 'Placed', ' placed', 'placed\u0000')))
  const union = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined
  if (Array.isArray(union)) add(fc.oneof(...union.map((member) => brokenArbitrary({ ...withoutUnion(schema), ...member }, options, depth + 1))))
  const types = typesOf(schema)
  if (types.includes('string')) add(brokenString(schema))
  if (types.includes('integer') || types.includes('number')) add(brokenNumber(schema, types.includes('integer')))
  if (types.includes('array')) add(brokenArray(schema, options, depth))
  if (types.includes('object') || (types.length === 0 && schema.properties)) add(brokenObject(schema, options, depth))
  return fc.oneof(...candidates)
}

/** The fields `brokenFieldArbitrary` can break one at a time: an object's properties, and '*' (one missing or unknown). */
export function faultTargets (schema: JsonSchema, options: ConvertOptions): string[] {
  const resolved = typeof schema.$ref === 'string' ? options.resolve(schema.$ref) : schema
  if (!(typesOf(resolved).includes('object') || resolved.properties)) return ['*']
  return [...Object.keys((resolved.properties ?? {}) as JsonSchema), '*']
}

/**
 * A value valid but for one thing: `field` broken, or for '*' a required field
 * missing or an unknown one added. For a schema that is not an object, any broken value.
 */
export function brokenFieldArbitrary (schema: JsonSchema, options: ConvertOptions, field = '*'): fc.Arbitrary<unknown> {
  const resolved = typeof schema.$ref === 'string' ? options.resolve(schema.$ref) : schema
  if (!(typesOf(resolved).includes('object') || resolved.properties)) return brokenArbitrary(resolved, options)
  const property = ((resolved.properties ?? {}) as Record<string, JsonSchema>)[field]
  const valid = validObject(resolved, options, 0)
  if (property) return fc.tuple(valid, brokenArbitrary(property, options, 1)).map(([value, broken]) => withKey(value, field, broken))
  return brokenObject({ ...resolved, properties: {}, required: resolved.required ?? [] }, options, 0, valid)
}

function brokenString (schema: JsonSchema): fc.Arbitrary<unknown> {
  const minLength = numberOr(schema.minLength, 0)
  const maxLength = numberOr(schema.maxLength, Infinity)
  // Just past a bound is what finds an off-by-one: those come up most.
  const candidates: Array<fc.WeightedArbitrary<unknown>> = [
    { weight: 2, arbitrary: fc.constantFrom('', ' ', '\u0000', '\t\n', '\u202e\u0000\ud83d\ude00', 'null', '1 OR 1=1', "'; DROP TABLE users; --", '%', '_', '<script>') },
    { weight: 1, arbitrary: fc.integer().map(String) }
  ]
  if (Number.isFinite(maxLength)) {
    candidates.push({ weight: 3, arbitrary: fc.constantFrom('x'.repeat(maxLength + 1), '\u00e9'.repeat(maxLength + 1), '\ud83d\ude00'.repeat(maxLength + 1)) })
    candidates.push({ weight: 1, arbitrary: fc.integer({ min: 2, max: 64 }).map((extra) => 'x'.repeat(maxLength + extra)) })
  } else {
    candidates.push({ weight: 1, arbitrary: fc.constant('x'.repeat(100_000)) })
  }
  if (minLength > 0) candidates.push({ weight: 2, arbitrary: fc.constant('x'.repeat(minLength - 1)) })
  if (schema.format === 'email') candidates.push({ weight: 3, arbitrary: fc.constantFrom('not-an-email', '@', 'a@', '@b', 'a@b@c', 'a b@c.d', `${'a'.repeat(250)}@example.test`) })
  if (schema.format === 'date-time') candidates.push({ weight: 3, arbitrary: fc.constantFrom('2020-13-45T25:61:61Z', 'yesterday', '0', '2020-01-01') })
  if (typeof schema.pattern === 'string') candidates.push({ weight: 2, arbitrary: fc.string({ maxLength: 12 }) })
  return fc.oneof(...candidates)
}

function brokenNumber (schema: JsonSchema, integer: boolean): fc.Arbitrary<unknown> {
  const [min, max] = integerBounds(schema)
  const bounds: number[] = []
  if (min > -SAFE) bounds.push(min - 1)
  if (max < SAFE) bounds.push(max + 1)
  const candidates: Array<fc.WeightedArbitrary<unknown>> = [
    { weight: 1, arbitrary: fc.constantFrom<unknown>(1e308, -1e308, 2 ** 53, -(2 ** 53), Number('9007199254740993'), '1', '0x10', '1e3') }
  ]
  // Just past a bound is what finds an off-by-one: those come up most.
  if (bounds.length > 0) candidates.push({ weight: 4, arbitrary: fc.constantFrom(...bounds) })
  if (min > -SAFE && max < SAFE) candidates.push({ weight: 1, arbitrary: fc.constantFrom(min - 0.5, max + 0.5) })
  if (integer) candidates.push({ weight: 2, arbitrary: fc.constantFrom(1.5, 0.000001, -2.5) })
  return fc.oneof(...candidates)
}

function brokenArray (schema: JsonSchema, options: ConvertOptions, depth: number): fc.Arbitrary<unknown> {
  const items = (typeof schema.items === 'object' && schema.items !== null ? schema.items : {}) as JsonSchema
  const maxItems = numberOr(schema.maxItems, Infinity)
  const candidates: Array<fc.Arbitrary<unknown>> = [fc.array(brokenArbitrary(items, options, depth + 1), { minLength: 1, maxLength: 3 })]
  if (Number.isFinite(maxItems)) candidates.push(fc.array(validArbitrary(items, options, depth + 1), { minLength: maxItems + 1, maxLength: maxItems + 3 }))
  // The same valid item twice breaks uniqueItems.
  if (schema.uniqueItems === true) candidates.push(validArbitrary(items, options, depth + 1).map((value) => [value, value]))
  return fc.oneof(...candidates)
}

function brokenObject (schema: JsonSchema, options: ConvertOptions, depth: number, base?: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<unknown> {
  const valid = base ?? validObject(schema, options, depth)
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>
  const names = Object.keys(properties)
  const required = (schema.required ?? []) as string[]
  const candidates: Array<fc.Arbitrary<unknown>> = [
    // An unknown field, the awkward names included.
    fc.tuple(valid, fc.constantFrom('unexpected_field', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'id', 'role', 'user_id', ''), fc.jsonValue({ maxDepth: 2 }))
      .map(([value, key, field]) => withKey(value, key, field))
  ]
  if (required.length > 0) {
    candidates.push(fc.tuple(valid, fc.constantFrom(...required)).map(([value, key]) => {
      const { [key]: _dropped, ...rest } = value
      return rest
    }))
  }
  if (names.length > 0 && depth < 6) {
    // One property at a time replaced by a broken value, so the rest stays plausible.
    candidates.push(fc.constantFrom(...names).chain((name) => fc.tuple(valid, brokenArbitrary(properties[name] as JsonSchema, options, depth + 1))
      .map(([value, field]) => withKey(value, name, field))))
  }
  return fc.oneof(...candidates)
}
