// The custom search attributes the runbooks set must exist in the namespace: register the
// missing ones where the server allows it, else fail naming them.
import type { ConnectionLike } from '@temporalio/client';
import { status } from '@grpc/grpc-js';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';

const { IndexedValueType } = temporal.api.enums.v1;

export async function ensureSearchAttributes(connection: ConnectionLike, namespace: string): Promise<string[]> {
  let existing: Record<string, unknown> = {};
  try {
    existing = (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
  } catch (err) {
    // The time-skipping test server cannot list, but can add: then add them all.
    if ((err as { code?: number }).code !== status.UNIMPLEMENTED) throw err;
  }
  const missing = SEARCH_ATTRIBUTES.filter((k) => !(k.name in existing));
  if (missing.length === 0) return [];
  const searchAttributes = Object.fromEntries(
    missing.map((k) => [
      k.name,
      k.type === 'BOOL' ? IndexedValueType.INDEXED_VALUE_TYPE_BOOL : IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    ]),
  );
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
  } catch (err) {
    const names = missing.map((k) => `${k.name} (${k.type})`).join(', ');
    throw new Error(
      `namespace "${namespace}" lacks the search attributes ${names} and they could not be registered: ${(err as Error).message}`,
    );
  }
  return missing.map((k) => k.name);
}
