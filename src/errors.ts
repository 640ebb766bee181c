import createError from '@fastify/error'

// Every domain error of the service, one stable `code` each. The error handler
// turns them into { statusCode, code, error, message }.
export const errors = {
  Unauthorized: createError('UNAUTHORIZED', 'A valid access token is required', 401),
  InvalidToken: createError('INVALID_TOKEN', 'The access token is invalid or expired', 401),
  Forbidden: createError('FORBIDDEN', 'Your role may not do this', 403),
  RouteNotFound: createError('ROUTE_NOT_FOUND', 'Route %s not found', 404),
  ValidationFailed: createError('VALIDATION_ERROR', '%s', 400),
  InvalidJson: createError('INVALID_JSON', 'The request body is not valid JSON', 400),
  UnsupportedMediaType: createError('UNSUPPORTED_MEDIA_TYPE', 'Content-Type %s is not supported here', 415),
  PayloadTooLarge: createError('PAYLOAD_TOO_LARGE', 'The request body is too large', 413),
  InvalidContentLength: createError('INVALID_CONTENT_LENGTH', 'Content-Length does not match the body', 400),
  BadUrl: createError('BAD_URL', 'The URL is not valid', 400),
  UriTooLong: createError('URI_TOO_LONG', 'A path segment is too long', 414),
  BadRequest: createError('BAD_REQUEST', '%s', 400),
  InvalidCursor: createError('INVALID_CURSOR', 'The cursor is not one this service issued', 400),

  UserNotFound: createError('USER_NOT_FOUND', 'User not found', 404),
  EmailTaken: createError('EMAIL_TAKEN', 'An account with this e-mail already exists', 409),
  WrongPassword: createError('WRONG_PASSWORD', 'The current password is wrong', 400),
  PasswordTooCommon: createError('PASSWORD_TOO_COMMON', 'This password is on a list of commonly used passwords; choose another', 400),
  TooManyRequests: createError('TOO_MANY_REQUESTS', 'Too many requests; retry in %s seconds', 429),
  ResetTokenInvalid: createError('RESET_TOKEN_INVALID', 'The reset token is wrong, used or expired', 400),

  CategoryNotFound: createError('CATEGORY_NOT_FOUND', 'Category not found', 404),
  CategoryExists: createError('CATEGORY_EXISTS', 'A category with this name already exists', 409),
  CategoryNotEmpty: createError('CATEGORY_NOT_EMPTY', 'Products still use this category', 409),
  ProductNotFound: createError('PRODUCT_NOT_FOUND', 'Product not found', 404),

  CartItemNotFound: createError('CART_ITEM_NOT_FOUND', 'This product is not in your cart', 404),
  InsufficientStock: createError('INSUFFICIENT_STOCK', 'Not enough stock for product %s', 409),
  CartEmpty: createError('CART_EMPTY', 'Your cart is empty', 409),

  OrderNotFound: createError('ORDER_NOT_FOUND', 'Order not found', 404),
  OrderNotCancellable: createError('ORDER_NOT_CANCELLABLE', 'Only a placed order can be cancelled', 409),
  InvalidStatusTransition: createError('INVALID_STATUS_TRANSITION', 'An order cannot move from %s to %s', 409),

  InternalError: createError('INTERNAL_ERROR', 'Something went wrong on our side', 500),
  ServiceUnavailable: createError('SERVICE_UNAVAILABLE', '%s', 503),
  DatabaseUnavailable: createError('DATABASE_UNAVAILABLE', 'The database is not answering; retry shortly', 503),
  StorageFull: createError('STORAGE_FULL', 'The database has no room to store this; nothing was changed', 507)
}

/** 429 whose Retry-After header the error handler sets from `retryAfterSeconds`. */
export function tooManyRequests (retryAfterSeconds: number) {
  return Object.assign(new errors.TooManyRequests(String(retryAfterSeconds)), { retryAfterSeconds })
}

/** RFC 6749 §5.2 error of the token and revocation endpoints: a different body shape. */
export class OAuthError extends Error {
  readonly statusCode: number
  constructor (
    readonly error: 'invalid_request' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_client',
    readonly description: string,
    statusCode = 400
  ) {
    super(description)
    this.name = 'OAuthError'
    this.statusCode = statusCode
  }
}
