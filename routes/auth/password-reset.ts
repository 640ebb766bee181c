import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

// POST /auth/password-reset and /auth/password-reset/confirm (API.md, Tokens).
const passwordResetRoutes: FastifyPluginAsyncTypebox = async () => {}

export default passwordResetRoutes
