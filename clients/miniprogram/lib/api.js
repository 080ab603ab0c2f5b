'use strict';
// GraphQL for the pages: logs in when needed, logs in again once and retries when the
// server says UNAUTHENTICATED, and throws ApiError (Chinese message, extensions.code).
const { post } = require('./transport');
const auth = require('./auth');
const { fromGraphQLError } = require('./errors');

function isUnauthenticated(body) {
  return !!(body.errors && body.errors.some((e) => e.extensions && e.extensions.code === 'UNAUTHENTICATED'));
}

async function gql(query, variables) {
  let token = await auth.ensureToken();
  let body = await post(query, variables, token);
  if (isUnauthenticated(body)) {
    auth.invalidate();
    token = await auth.login();
    body = await post(query, variables, token);
  }
  if (body.errors && body.errors.length) throw fromGraphQLError(body.errors[0]);
  return body.data;
}

module.exports = { gql };
