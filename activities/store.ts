// The incident store as activities: the workflow's timeline, the post-incident report, recent
// changes, follow-up reminders.
import { Context } from '@temporalio/activity';
import type { Deps } from './deps';
import type { ChangeEvent, IncidentRow, MaintenanceRun, TimelineEvent } from './db/incident-store';
import type { Scope } from './prometheus';
import type { AlertEvent } from '../workflows/definitions';
import { observe, type Observed } from './http';

export type { TimelineEvent };

export interface PostIncidentReport {
  rootCause: string;
  impact: string;
  resolution: string;
  followUps: string[];
  /** A runbook's own postmortem document (Markdown), when its document has a template. */
  postmortem?: string;
}

export function createStoreActivities({ store, config }: Deps) {
  return {
    async syncIncident(input: { incident: IncidentRow; events: TimelineEvent[] }): Promise<void> {
      await store.sync(input.incident, input.events);
    },

    async recordPostIncident(input: {
      workflowId: string;
      runId: string;
      runbook: string;
      report: PostIncidentReport;
      followUpAfterMs: number;
    }): Promise<void> {
      await store.recordPostIncident(input.workflowId, input.runId, input.report);
      await store.addFollowUps(
        { workflowId: input.workflowId, runId: input.runId },
        input.runbook,
        input.report.followUps,
        new Date(Date.now() + input.followUpAfterMs),
      );
    },

    /**
     * Whether a scheduled check's alert is news to the open incident: false when its last receipt
     * there has the same status and labels (the summary's figures change every run) and is newer
     * than the incident's start. Until the incident's record exists, it is news.
     */
    async alertIsNews(input: { workflowId: string; alert: AlertEvent }): Promise<boolean> {
      const { workflowId, alert } = input;
      const delivered = await store.lastDelivered({
        workflowId,
        alertKey: alert.key,
        status: alert.status,
        labels: alert.labels,
      });
      if (!delivered) return true;
      const started = await store.incidentStartedAt(workflowId);
      return !started || delivered < started;
    },

    /** The receipt of an alert a scheduled check handed to an incident, as the gateway keeps one. */
    async recordDelivered(input: {
      runbook: string;
      workflowId: string;
      alert: AlertEvent;
      outcome: 'started' | 'joined';
    }): Promise<void> {
      const { alert } = input;
      await store.recordAlert({
        alertname: alert.alertname,
        status: alert.status,
        alertKey: alert.key,
        labels: alert.labels,
        annotations: alert.annotations,
        runbook: input.runbook,
        workflowId: input.workflowId,
        outcome: input.outcome,
      });
    },

    async recordMaintenanceRun(run: MaintenanceRun): Promise<void> {
      await store.recordMaintenanceRun(run);
    },

    /** Deployments, config, secret, migration and flag changes in the window before the incident. */
    async recentChanges(input: Scope & { fromMs: number; toMs: number }): Promise<Observed<ChangeEvent[]>> {
      return observe(() =>
        store.changesBetween(input.service, input.environment, new Date(input.fromMs), new Date(input.toMs)),
      );
    },

    /** Whether now falls inside a configured release window (automated deploys are then paused). */
    async releaseWindow(): Promise<{ inside: boolean; window?: string }> {
      const now = Date.now();
      for (const w of config.releaseWindows) {
        const local = new Date(now + w.utcOffsetMinutes * 60_000);
        const day = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][local.getUTCDay()];
        const minutes = local.getUTCHours() * 60 + local.getUTCMinutes();
        const [sh, sm] = w.start.split(':').map(Number);
        const [eh, em] = w.end.split(':').map(Number);
        const inside =
          w.days.includes(day as (typeof w.days)[number]) && minutes >= sh * 60 + sm && minutes < eh * 60 + em;
        if (inside)
          return {
            inside,
            window: `${w.days.join(',')} ${w.start}-${w.end} (UTC${w.utcOffsetMinutes >= 0 ? '+' : ''}${w.utcOffsetMinutes / 60})`,
          };
      }
      return { inside: false };
    },
  };
}

export function createFollowUpActivities(deps: Deps) {
  const notify = deps.config.notifications.oncall ? 'oncall' : undefined;
  return {
    async remindFollowUp(input: {
      incidentWorkflowId: string;
      incidentRunId?: string;
      runbook: string;
      service: string;
      tasks: string[];
    }): Promise<string> {
      // Reminders started before the input named the run: their own id, `followup/<workflow id>/<run id>`, does.
      const reminderId = Context.current().info.workflowExecution?.workflowId ?? '';
      const runId =
        input.incidentRunId ??
        (reminderId.startsWith('followup/') ? reminderId.slice(reminderId.lastIndexOf('/') + 1) : undefined);
      await deps.store.markFollowUpsReminded(input.incidentWorkflowId, runId);
      const text = `Follow-up due for ${input.runbook} on ${input.service} (${input.incidentWorkflowId}):\n${input.tasks.map((t) => `• ${t}`).join('\n')}`;
      if (!notify || !deps.slack) return `recorded; no Slack target to remind: ${text}`;
      const channel = deps.config.notifications.oncall.slackChannel;
      if (!channel) return `recorded; oncall has no Slack channel`;
      await deps.slack.chat.postMessage({ channel, text });
      return `reminded ${channel}`;
    },
  };
}
