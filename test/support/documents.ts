// A runbook document in the catalogue's template around a test's own step sections.
export const documentWith = (steps: string) => `# Test Runbook

## Overview

A document written for this test.

## Symptoms

- Something is wrong

${steps}

## Prevention

## Escalation

- After 15m: oncall
`;
