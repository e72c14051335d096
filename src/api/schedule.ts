/**
 * spec.schedule: when a Job runs. Exactly one of `startAt` (an RFC 3339
 * time), `startAfter` (a duration counted from when the daemon first sees the
 * spec) or `cron` (five fields, evaluated in `timeZone`, default UTC). The
 * plain string form of earlier manifests and of the original Joblet is read
 * as whichever of the three it is, and comes out of the schema as the object.
 */
import { Cron } from "croner";
import { z } from "zod";
import { checked } from "./fields.js";

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
};
const DURATION_PART = /\s*(\d+(?:\.\d+)?)\s*([a-z]+)/y;

/**
 * Milliseconds of a duration as Go writes it ("30s", "2h30m", "1.5h") or as
 * the original Joblet did ("1hour", "30min", "2days", "1h 30m"); undefined
 * when `text` is not one. A bare number has no unit and is not a duration.
 */
export function scheduleDurationMs(text: string): number | undefined {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === "") return undefined;
  let total = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < trimmed.length) {
    const m = DURATION_PART.exec(trimmed);
    const unit = m ? UNIT_MS[m[2]!] : undefined;
    if (!m || unit === undefined) return undefined;
    total += Number(m[1]) * unit;
  }
  return Math.round(total);
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Milliseconds since the epoch of an RFC 3339 time (with its offset), or undefined. */
export function rfc3339Ms(text: string): number | undefined {
  if (!RFC3339.test(text)) return undefined;
  const ms = Date.parse(text.replace(" ", "T"));
  return Number.isNaN(ms) ? undefined : ms;
}

/** Six fields put seconds first: a test hook, which a daemon refuses unless started with it (cronSeconds). */
export function cronHasSeconds(expression: string): boolean {
  return expression.trim().split(/\s+/).length === 6;
}

/** croner's reason, without its class-name prefix, or undefined when `expression` is a cron expression. */
export function cronProblem(expression: string, timeZone?: string): string | undefined {
  try {
    new Cron(expression, { mode: "5-or-6-parts", ...(timeZone ? { timezone: timeZone } : {}) });
    return undefined;
  } catch (e) {
    return `is not a cron expression (minute hour day-of-month month day-of-week, e.g. '*/5 * * * *'): ${(e as Error).message.replace(/^Cron\w*: /, "")}`;
  }
}

export function timeZoneProblem(zone: string): string | undefined {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return undefined;
  } catch {
    return "is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)";
  }
}

function durationProblem(text: string): string | undefined {
  return scheduleDurationMs(text) === undefined ? "is not a duration (e.g. 30s, 2h30m, 30min, 1hour, 2days)" : undefined;
}

function timeProblem(text: string): string | undefined {
  return rfc3339Ms(text) === undefined ? "is not an RFC 3339 time with an offset (e.g. 2030-01-02T15:04:05Z)" : undefined;
}

/** Exactly one of startAt, startAfter, cron (checked by the schema); timeZone with cron only. */
export interface Schedule {
  startAt?: string;
  startAfter?: string;
  cron?: string;
  timeZone?: string;
}

/** What a string schedule is: an RFC 3339 time, a duration, or else a cron expression. */
export function scheduleFromString(text: string): Schedule {
  const trimmed = text.trim();
  if (rfc3339Ms(trimmed) !== undefined) return { startAt: trimmed };
  if (scheduleDurationMs(trimmed) !== undefined) return { startAfter: trimmed };
  return { cron: trimmed };
}

function scheduleStringProblem(text: string): string | undefined {
  if (text.trim() === "") return "must not be empty";
  const schedule = scheduleFromString(text);
  if (schedule.cron === undefined || cronProblem(schedule.cron) === undefined) return undefined;
  return "is not a cron expression ('*/5 * * * *'), an RFC 3339 time ('2030-01-02T15:04:05Z') or a duration ('30s', '2h30m', '30min')";
}

const WHEN = ["startAt", "startAfter", "cron"] as const;

const scheduleObject = z
  .strictObject({
    startAt: checked(z.string(), timeProblem).optional().meta({ description: "Run once at this RFC 3339 time: 2030-01-02T15:04:05Z." }),
    startAfter: checked(z.string(), durationProblem)
      .optional()
      .meta({ description: "Run once this long after joblet first sees the spec: 30s, 2h30m, 30min, 1hour, 2days." }),
    cron: checked(z.string(), (expression) => cronProblem(expression))
      .optional()
      .meta({ description: "Run repeatedly: five cron fields, minute hour day-of-month month day-of-week ('*/5 * * * *')." }),
    timeZone: checked(z.string(), timeZoneProblem).optional().meta({ description: "IANA time zone the cron fields are read in. Default UTC." }),
  })
  .superRefine((schedule, ctx) => {
    const set = WHEN.filter((field) => schedule[field] !== undefined);
    if (set.length !== 1) {
      const message = set.length === 0 ? `needs one of ${WHEN.join(", ")}` : `sets ${set.join(" and ")}: set exactly one of ${WHEN.join(", ")}`;
      ctx.addIssue({ code: "custom", message });
    }
    if (schedule.timeZone !== undefined && schedule.cron === undefined) {
      ctx.addIssue({ code: "custom", path: ["timeZone"], message: "applies to cron only (startAt carries its own offset)" });
    }
  });

export const scheduleSchema = z
  .union([checked(z.string(), scheduleStringProblem).transform(scheduleFromString), scheduleObject], {
    error: "must be a mapping with one of startAt, startAfter or cron, or a string (a cron expression, an RFC 3339 time or a duration)",
  })
  .meta({
    description:
      "When to run: {startAt: RFC 3339} or {startAfter: 30s} once, or {cron: '*/5 * * * *', timeZone} repeatedly. A string is read as whichever of these it is. Runs at once when omitted.",
  });
