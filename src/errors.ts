import createError from '@fastify/error'

// Every error code the API answers with, in one map whose keys are the codes
// themselves (as Fastify's own lib/errors.js): the error handler turns them into
// { statusCode, code, error, message }, and test/errors.test.ts checks each against
// the README's error table.
export const errors = {
  UNAUTHORIZED: createError('UNAUTHORIZED', 'A valid access token is required', 401),
  INVALID_TOKEN: createError('INVALID_TOKEN', 'The access token is invalid or expired', 401),
  INSUFFICIENT_SCOPE: createError('INSUFFICIENT_SCOPE', 'This token does not carry the scope this needs: %s', 403),
  ROUTE_NOT_FOUND: createError('ROUTE_NOT_FOUND', 'Route %s not found', 404),
  VALIDATION_ERROR: createError('VALIDATION_ERROR', '%s', 400),
  INVALID_JSON: createError('INVALID_JSON', 'The request body is not valid JSON', 400),
  UNSUPPORTED_MEDIA_TYPE: createError('UNSUPPORTED_MEDIA_TYPE', 'Content-Type %s is not supported here', 415),
  PAYLOAD_TOO_LARGE: createError('PAYLOAD_TOO_LARGE', 'The request body is too large', 413),
  INVALID_CONTENT_LENGTH: createError('INVALID_CONTENT_LENGTH', 'Content-Length does not match the body', 400),
  BAD_URL: createError('BAD_URL', 'The URL is not valid', 400),
  URI_TOO_LONG: createError('URI_TOO_LONG', 'A path segment is too long', 414),
  BAD_REQUEST: createError('BAD_REQUEST', '%s', 400),
  INVALID_CURSOR: createError('INVALID_CURSOR', 'The cursor is not one this service issued', 400),

  USER_NOT_FOUND: createError('USER_NOT_FOUND', 'User not found', 404),
  EMAIL_TAKEN: createError('EMAIL_TAKEN', 'An account with this e-mail already exists', 409),
  WRONG_PASSWORD: createError('WRONG_PASSWORD', 'The current password is wrong', 400),
  PASSWORD_TOO_COMMON: createError('PASSWORD_TOO_COMMON', 'This password is on a list of commonly used passwords; choose another', 400),
  TOO_MANY_REQUESTS: createError('TOO_MANY_REQUESTS', 'Too many requests; retry in %s seconds', 429),
  RESET_TOKEN_INVALID: createError('RESET_TOKEN_INVALID', 'The reset token is wrong, used or expired', 400),

  CATEGORY_NOT_FOUND: createError('CATEGORY_NOT_FOUND', 'Category not found', 404),
  CATEGORY_EXISTS: createError('CATEGORY_EXISTS', 'A category with this name already exists', 409),
  CATEGORY_NOT_EMPTY: createError('CATEGORY_NOT_EMPTY', 'Products still use this category', 409),
  PRODUCT_NOT_FOUND: createError('PRODUCT_NOT_FOUND', 'Product not found', 404),

  CART_ITEM_NOT_FOUND: createError('CART_ITEM_NOT_FOUND', 'This product is not in your cart', 404),
  INSUFFICIENT_STOCK: createError('INSUFFICIENT_STOCK', 'Not enough stock for product %s', 409),
  CART_EMPTY: createError('CART_EMPTY', 'Your cart is empty', 409),

  ORDER_NOT_FOUND: createError('ORDER_NOT_FOUND', 'Order not found', 404),
  ORDER_NOT_CANCELLABLE: createError('ORDER_NOT_CANCELLABLE', 'Only a placed order can be cancelled', 409),
  INVALID_STATUS_TRANSITION: createError('INVALID_STATUS_TRANSITION', 'An order cannot move from %s to %s', 409),

  CLIENT_NOT_FOUND: createError('CLIENT_NOT_FOUND', 'Service client not found', 404),
  SCOPE_NOT_FOR_CLIENTS: createError('SCOPE_NOT_FOR_CLIENTS', 'A service client may not hold %s', 400),

  INTERNAL_ERROR: createError('INTERNAL_ERROR', 'Something went wrong on our side', 500),
  SERVICE_UNAVAILABLE: createError('SERVICE_UNAVAILABLE', '%s', 503),
  DATABASE_UNAVAILABLE: createError('DATABASE_UNAVAILABLE', 'The database is not answering; retry shortly', 503),
  STORAGE_FULL: createError('STORAGE_FULL', 'The database has no room to store this; nothing was changed', 507)
}

/** 429 whose Retry-After header the error handler sets from `retryAfterSeconds`. */
export function tooManyRequests (retryAfterSeconds: number) {
  return Object.assign(new errors.TOO_MANY_REQUESTS(String(retryAfterSeconds)), { retryAfterSeconds })
}

/**
 * RFC 6750 §3.1: a valid token without the scope the route needs. The challenge names
 * the scopes that would do, any one of them.
 */
export function insufficientScope (scopes: readonly string[]) {
  const needed = scopes.join(' ')
  return Object.assign(new errors.INSUFFICIENT_SCOPE(needed), {
    wwwAuthenticate: `Bearer error="insufficient_scope", scope="${needed}"`
  })
}

/** RFC 6749 §5.2 error of the token and revocation endpoints: a different body shape. */
export class OAuthError extends Error {
  readonly statusCode: number
  // `error` is RFC 6749's field name, not a callback's error argument.
  // eslint-disable-next-line n/handle-callback-err
  constructor (
    readonly error: 'invalid_request' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_client' | 'invalid_scope',
    readonly description: string,
    statusCode = 400,
    /** invalid_client after HTTP Basic: the challenge of the scheme the client used (RFC 6749 §5.2). */
    readonly wwwAuthenticate?: string
  ) {
    super(description)
    this.name = 'OAuthError'
    this.statusCode = statusCode
  }
}
