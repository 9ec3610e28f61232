import { Type } from 'typebox';
import { requestDocument, resourceSchema, singleDocument, singleDocumentWithMeta } from '../http/jsonapi.js';
import {
  type InstanceSettings,
  MAX_RATE_LIMIT_PER_MINUTE,
  MAX_TOKEN_EXPIRY_SECONDS,
  MIN_RATE_LIMIT_PER_MINUTE,
  MIN_TOKEN_EXPIRY_SECONDS,
} from './service.js';

export const SETTINGS_TYPE = 'instance_settings';
export const SETTINGS_ID = 'instance';

const TokenExpiry = Type.Union(
  [Type.Integer({ minimum: MIN_TOKEN_EXPIRY_SECONDS, maximum: MAX_TOKEN_EXPIRY_SECONDS }), Type.Null()],
  {
    description: 'Lifetime of every token from its creation, in seconds; null (the default) means tokens do not expire',
  },
);

export const RateLimit = Type.Integer({
  minimum: MIN_RATE_LIMIT_PER_MINUTE,
  maximum: MAX_RATE_LIMIT_PER_MINUTE,
  description: "Requests a minute per user, shared by all of the user's tokens; 60 by default",
});

export const SettingsResource = resourceSchema(
  SETTINGS_TYPE,
  Type.Object({ token_expiry_seconds: TokenExpiry, rate_limit_per_minute: RateLimit }),
);

const Impact = Type.Object({
  tokens_expiring_now: Type.Integer(),
  users_affected_now: Type.Integer(),
  tokens_expiring_within_7_days: Type.Integer(),
  users_affected_within_7_days: Type.Integer(),
});

export const SettingsDocument = singleDocument(SettingsResource);
export const SettingsUpdateDocument = singleDocumentWithMeta(
  SettingsResource,
  Type.Object({ dry_run: Type.Boolean(), impact: Impact }),
);

export const UpdateSettingsBody = requestDocument(
  Type.Object(
    { token_expiry_seconds: Type.Optional(TokenExpiry), rate_limit_per_minute: Type.Optional(RateLimit) },
    { additionalProperties: false },
  ),
);

export const UpdateSettingsQuery = Type.Object({
  dry_run: Type.Optional(
    Type.Union([Type.Literal('true'), Type.Literal('false')], {
      description: 'With `true`, nothing is saved: the answer shows the settings and the impact the change would have',
    }),
  ),
});

export const settingsResource = (settings: InstanceSettings) => ({
  type: SETTINGS_TYPE,
  id: SETTINGS_ID,
  attributes: settings,
  links: { self: '/core/instance_settings' },
});
