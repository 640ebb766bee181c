import { Type, type Static } from '@sinclair/typebox'
import { StrictObject, EmailSchema, PasswordSchema, TimestampSchema, IdString, PageQuery, Page } from '../../src/schemas.js'
import type { PublicUser } from '../../src/store/users.js'

const FullName = Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Null()])
const Role = Type.Union([Type.Literal('customer'), Type.Literal('admin')])

export const UserSchema = Type.Object({
  id: Type.Integer(),
  email: Type.String(),
  full_name: FullName,
  role: Role,
  disabled: Type.Boolean(),
  created_at: TimestampSchema
})
export type User = Static<typeof UserSchema>

export const toUser = (user: PublicUser): User => ({
  id: user.id,
  email: user.email,
  full_name: user.fullName,
  role: user.role,
  disabled: user.disabled,
  created_at: user.createdAt
})

export const RegisterSchema = StrictObject({
  email: EmailSchema,
  password: PasswordSchema,
  full_name: Type.Optional(FullName)
})

export const UpdateMeSchema = StrictObject({ full_name: FullName })

export const AdminUpdateSchema = StrictObject({
  full_name: Type.Optional(FullName),
  role: Type.Optional(Role),
  disabled: Type.Optional(Type.Boolean())
}, { description: 'Disabling a user ends every session of theirs at once' })

export const ChangePasswordSchema = StrictObject({
  current_password: Type.String({ minLength: 1, maxLength: 256 }),
  new_password: PasswordSchema
})

export const UserListQuery = StrictObject({
  ...PageQuery,
  email: Type.Optional(Type.String({ minLength: 1, maxLength: 254, description: 'Exact e-mail, case-insensitive' }))
})

export const UserPage = Page(UserSchema)
export { IdString }
