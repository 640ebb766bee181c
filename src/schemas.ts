import { Type, type TSchema, type TProperties, type TObject } from '@sinclair/typebox'

/** Request bodies reject unknown fields (docs/API.md); responses declare every field they send. */
export const StrictObject = <T extends TProperties>(properties: T, options: { $id?: string, description?: string } = {}): TObject<T> =>
  Type.Object(properties, { additionalProperties: false, ...options })

// Path and query ids are digit strings ("5", not "05", " 5" or "5.0"); handlers convert with Number().
export const IdString = Type.String({ pattern: '^[1-9][0-9]{0,14}$', description: 'A positive integer id, as digits' })
export const IdParams = StrictObject({ id: IdString })

export const EmailSchema = Type.String({ format: 'email', minLength: 3, maxLength: 254 })
export const PasswordSchema = Type.String({ minLength: 8, maxLength: 256 })
export const TimestampSchema = Type.String({ format: 'date-time' })

export const ErrorSchema = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String()
}, { $id: 'Error', description: 'Every error but the token endpoint\'s' })
export const ErrorRef = Type.Ref(ErrorSchema)

export const PageQuery = {
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'next_cursor of the previous page' }))
}

export const Page = <T extends TSchema>(item: T) => Type.Object({
  items: Type.Array(item),
  next_cursor: Type.Union([Type.String(), Type.Null()])
})

export const NoContent = Type.Null({ description: 'No content' })
