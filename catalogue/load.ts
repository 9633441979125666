// The catalogue's documents on disk: `catalogue/runbooks/<runbook-id>.md`, parsed (and so checked)
// when a runbook starts; a broken document refuses the start with its line and reason.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument, type RunbookDocument } from './document';

export const CATALOGUE_DIR = path.join(__dirname, 'runbooks');

export function documentPath(runbook: string): string {
  return path.join(CATALOGUE_DIR, `${runbook}.md`);
}

export function hasDocument(runbook: string): boolean {
  return existsSync(documentPath(runbook));
}

export function loadDocument(runbook: string): RunbookDocument {
  const file = documentPath(runbook);
  return parseDocument(readFileSync(file, 'utf8'), path.relative(process.cwd(), file));
}
