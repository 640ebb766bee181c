export type Role = 'customer' | 'admin'

/** A user as the API shows it: everything but the password hash. */
export interface PublicUser {
  id: number
  email: string
  fullName: string | null
  role: Role
  disabled: boolean
  tokenGeneration: number
  createdAt: string
}

export interface UserChanges { fullName?: string | null, role?: Role, disabled?: boolean }

/** The columns of PublicUser, in both dialects' users tables. */
export const PUBLIC_USER_COLUMNS = ['id', 'email', 'fullName', 'role', 'disabled', 'tokenGeneration', 'createdAt'] as const

export const normaliseEmail = (email: string) => email.trim().toLowerCase()

/** The users' table, the same for every store. */
export interface UserRepository {
  /** authenticate's look-up: runs on every protected request. */
  findById (id: number): Promise<PublicUser | undefined>
  findWithCredentials (email: string): Promise<(PublicUser & { passwordHash: string }) | undefined>
  passwordHashOf (id: number): Promise<string | undefined>
  /** undefined when the e-mail is taken. */
  create (input: { email: string, passwordHash: string, fullName?: string | null, role?: Role }): Promise<PublicUser | undefined>
  list (query: { email?: string, afterId?: number, limit: number }): Promise<PublicUser[]>
  /** Disabling (or re-enabling) ends every session at once. undefined when there is no such user. */
  update (id: number, changes: UserChanges): Promise<PublicUser | undefined>
  /** Sets a new hash; with endSessions every token issued before stops working. */
  setPasswordHash (id: number, passwordHash: string, options: { endSessions: boolean }): Promise<void>
  endSessions (id: number): Promise<void>
  delete (id: number): Promise<boolean>
  /** ADMIN_EMAIL at start: an existing account becomes admin (its password stays). */
  promoteToAdmin (email: string): Promise<PublicUser | undefined>
}

/** The columns set by an update, without those left undefined. */
export const definedOnly = <T extends object>(changes: T): Partial<T> =>
  Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined)) as Partial<T>
