import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { expectType } from '../http/documents.js';
import { errorResponses } from '../http/jsonapi.js';
import { principalOf } from '../http/principal.js';
import {
  SETTINGS_TYPE,
  SettingsDocument,
  SettingsUpdateDocument,
  settingsResource,
  UpdateSettingsBody,
  UpdateSettingsQuery,
} from './schemas.js';
import type { SettingsService } from './service.js';

const tags = ['Instance settings'];
const security = [{ bearer: [] }];

export const settingsRoutes: FastifyPluginAsyncTypebox<{ settings: SettingsService }> = async (app, { settings }) => {
  app.get(
    '/instance_settings',
    {
      schema: {
        tags,
        security,
        summary: 'Read the instance settings',
        description: 'For global_admin.',
        response: { 200: SettingsDocument, ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => ({ data: settingsResource(await settings.getFor(principalOf(request))) }),
  );

  app.patch(
    '/instance_settings',
    {
      schema: {
        tags,
        security,
        summary: 'Change the instance settings',
        description:
          'For global_admin. `meta.impact` counts the live tokens the expiry change ends at once and within seven days; preview it first with `?dry_run=true`, which saves nothing.',
        querystring: UpdateSettingsQuery,
        body: UpdateSettingsBody,
        response: { 200: SettingsUpdateDocument, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request) => {
      expectType(request.body, SETTINGS_TYPE);
      const dryRun = request.query.dry_run === 'true';
      const result = await settings.updateFor(principalOf(request), request.body.data.attributes, dryRun);
      return { data: settingsResource(result.settings), meta: { dry_run: dryRun, impact: result.impact } };
    },
  );
};
