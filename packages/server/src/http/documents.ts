import { AppError } from '../errors/app-error.js';

/** JSON:API: a resource object whose type does not belong to the endpoint is a 409. */
export function expectType(body: { data: { type: string } }, type: string): void {
  if (body.data.type !== type) {
    throw new AppError(
      'type_mismatch',
      `This endpoint takes resources of type "${type}", not "${body.data.type.slice(0, 100)}".`,
      {
        source: { pointer: '/data/type' },
      },
    );
  }
}
