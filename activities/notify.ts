// Notifications: Slack (Web API through @slack/web-api), PagerDuty Events API v2 and mail (SMTP). A
// target with nothing configured says so instead of failing: the runbook records "not configured".
import type { Deps } from './deps';
import { fetchJson } from './http';
import { sendMail } from './smtp';
import { isDrill } from './drill-guard';

export interface NotifyResult {
  target: string;
  delivered: string[];
  skipped: string[];
  /** Deliveries that failed. Not thrown: a retry would repeat the ones that went through. */
  failed: string[];
}

export interface EscalationInput {
  incidentId: string;
  workflowId: string;
  runbook: string;
  service: string;
  environment: string;
  severity: string;
  reason: string;
  level: number;
}

const PD_SEVERITY: Record<string, string> = { P1: 'critical', P2: 'error', P3: 'warning', P4: 'info' };

export function createNotifyActivities({ config, slack, env }: Deps) {
  async function slackPost(channel: string, text: string): Promise<string> {
    if (!slack) throw new NotConfigured('Slack not configured (SLACK_BOT_TOKEN)');
    const res = await slack.chat.postMessage({ channel, text, unfurl_links: false });
    return `slack ${channel} ts=${res.ts}`;
  }

  async function pagerduty(
    action: 'trigger' | 'resolve',
    dedupKey: string,
    summary: string,
    severity: string,
    source: string,
  ) {
    const routingKey = env.PAGERDUTY_ROUTING_KEY;
    if (!routingKey) throw new NotConfigured('PagerDuty not configured (PAGERDUTY_ROUTING_KEY)');
    const base = (env.PAGERDUTY_EVENTS_URL || 'https://events.pagerduty.com').replace(/\/$/, '');
    const body =
      action === 'trigger'
        ? {
            routing_key: routingKey,
            event_action: action,
            dedup_key: dedupKey,
            payload: { summary: summary.slice(0, 1024), source, severity },
          }
        : { routing_key: routingKey, event_action: action, dedup_key: dedupKey };
    await fetchJson(`${base}/v2/enqueue`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return `pagerduty ${action} ${dedupKey}`;
  }

  async function email(to: string, text: string): Promise<string> {
    if (!env.SMTP_URL) throw new NotConfigured(`email to ${to}: no mail relay (SMTP_URL)`);
    const subject = text.replace(/:[a-z_]+:\s*/g, '').slice(0, 120);
    const reply = await sendMail(env.SMTP_URL, { from: env.SMTP_FROM || 'runbooks@localhost', to, subject, text });
    return `email ${to} (${reply.split('\n')[0]})`;
  }

  async function send(
    targetName: string,
    text: string,
    page?: { dedupKey: string; severity: string; source: string },
  ): Promise<NotifyResult> {
    const target = config.notifications[targetName];
    const result: NotifyResult = { target: targetName, delivered: [], skipped: [], failed: [] };
    if (!target) {
      result.skipped.push(`no notification target "${targetName}" in config`);
      return result;
    }
    const attempts: Promise<string>[] = [];
    if (target.slackChannel) attempts.push(slackPost(target.slackChannel, text));
    if (target.pagerduty && page) attempts.push(pagerduty('trigger', page.dedupKey, text, page.severity, page.source));
    if (target.email) attempts.push(email(target.email, text));
    for (const r of await Promise.allSettled(attempts)) {
      if (r.status === 'fulfilled') result.delivered.push(r.value);
      else if (r.reason instanceof NotConfigured) result.skipped.push(r.reason.message);
      else result.failed.push((r.reason as Error).message);
    }
    return result;
  }

  return {
    /** Posts to a configured notification target (Slack channel, PagerDuty). */
    async notify(input: { target: string; text: string }): Promise<NotifyResult> {
      if (isDrill()) return drillResult(input.target);
      return send(input.target, input.text);
    },

    /** Pages the tier for this escalation level: config.escalation[level-1], the last tier beyond. */
    async escalate(input: EscalationInput): Promise<NotifyResult> {
      const tiers = config.escalation.length ? config.escalation : ['oncall'];
      const target = tiers[Math.min(input.level, tiers.length) - 1];
      if (isDrill(input.workflowId)) return drillResult(target);
      const text = `:rotating_light: [${input.severity}] ${input.runbook} ${input.service}/${input.environment}: ${input.reason} (${input.workflowId})`;
      return send(target, text, {
        dedupKey: input.workflowId,
        severity: PD_SEVERITY[input.severity] ?? 'error',
        source: input.service,
      });
    },
  };
}

class NotConfigured extends Error {}

const drillResult = (target: string): NotifyResult => ({
  target,
  delivered: [],
  skipped: ['drill: nobody is notified'],
  failed: [],
});
