import { Type } from 'typebox';
import { collectionDocument, PageQuery, requestDocument, resourceSchema, singleDocument } from '../http/jsonapi.js';
import type { IssuedToken, UserAppToken } from './service.js';

export const TOKEN_TYPE = 'user_app_token';

const Timestamp = Type.String({ format: 'date-time' });

const listedAttributes = {
  label: Type.String(),
  hint: Type.String({ description: 'The last four characters of the token, to tell tokens apart' }),
  created_at: Timestamp,
  expires_at: Type.Union([Timestamp, Type.Null()], {
    description:
      'When the token stops working under the current instance expiry setting; null when tokens do not expire',
  }),
  last_accessed_at: Type.Union([Timestamp, Type.Null()], {
    description: 'Last use, recorded at most once a minute',
  }),
  last_accessed_ip: Type.Union([Type.String(), Type.Null()], { description: 'Client address of that last use' }),
};

const relationships = {
  relationships: Type.Object({
    user: Type.Object({ data: Type.Object({ type: Type.Literal('user'), id: Type.String() }) }),
  }),
};

/** What a list shows: never the token, never its hash. */
export const TokenResource = resourceSchema(TOKEN_TYPE, Type.Object(listedAttributes), relationships);

/** The create answer: the only schema that carries the token itself. */
export const IssuedTokenResource = resourceSchema(
  TOKEN_TYPE,
  Type.Object({
    ...listedAttributes,
    token: Type.String({
      pattern: '^[0-9a-f]{48}$',
      description: 'The token. Shown only in this response; store it now, it cannot be read again.',
    }),
  }),
  relationships,
);

export const TokenCollection = collectionDocument(TokenResource);
export const IssuedTokenDocument = singleDocument(IssuedTokenResource);

export const TokenCollectionParams = Type.Object({
  user_id: Type.String({ maxLength: 64, description: 'A user id, or `me` for the caller' }),
});
export const TokenParams = Type.Object({
  user_id: Type.String({ maxLength: 64, description: 'A user id, or `me` for the caller' }),
  id: Type.String({ maxLength: 64 }),
});
export const TokenListQuery = PageQuery;

export const CreateTokenBody = requestDocument(
  Type.Object(
    {
      label: Type.String({ minLength: 1, maxLength: 100, description: 'What the token is for, e.g. "CI deploy job"' }),
    },
    { additionalProperties: false },
  ),
);

export function tokenResource<T extends UserAppToken | IssuedToken>(token: T) {
  const { id, user_id, ...attributes } = token;
  return {
    type: TOKEN_TYPE,
    id,
    attributes,
    relationships: { user: { data: { type: 'user' as const, id: user_id } } },
    links: { self: `/core/users/${user_id}/user_app_tokens/${id}` },
  };
}
