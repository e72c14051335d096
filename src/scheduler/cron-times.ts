/**
 * The due times of a cron schedule, in its time zone. croner does the
 * calendar work (time zones through Intl, DST: a time skipped by a spring-
 * forward runs at the first instant after the gap, a time repeated by a
 * fall-back runs once); this adds "which times fell between two instants".
 */
import { Cron } from "croner";

/** Due times found by one look; `more` when there were more than `limit` and only the latest are listed. */
export interface DueTimes {
  /** Oldest first, epoch ms. */
  times: number[];
  more: boolean;
}

export class CronTimes {
  private readonly cron: Cron;

  /** `seconds`: also accept a sixth, leading seconds field (a test hook). */
  constructor(
    readonly expression: string,
    readonly timeZone = "UTC",
    seconds = false,
  ) {
    this.cron = new Cron(expression, { mode: seconds ? "5-or-6-parts" : "5-part", timezone: timeZone });
  }

  /** The first due time strictly after `after` (epoch ms), or undefined when there is none. */
  next(after: number): number | undefined {
    return this.cron.nextRun(new Date(after))?.getTime();
  }

  /**
   * Due times in (after, now]. Looking forward from `after` is cheap for the
   * usual zero or one; a long outage of a frequent schedule switches to
   * looking back from `now` for the latest `limit` of them.
   */
  due(after: number, now: number, limit = 100): DueTimes {
    const times: number[] = [];
    for (let t = this.next(after); t !== undefined && t <= now; t = this.next(t)) {
      if (times.length === limit) return { times: this.latest(after, now, limit), more: true };
      times.push(t);
    }
    return { times, more: false };
  }

  /** The latest `limit` due times in (after, now], oldest first. */
  private latest(after: number, now: number, limit: number): number[] {
    // Due times are whole seconds, and previousRuns looks strictly before its reference.
    const reference = new Date(Math.floor(now / 1000) * 1000 + 1000);
    return this.cron
      .previousRuns(limit, reference)
      .map((d) => d.getTime())
      .filter((t) => t > after && t <= now)
      .reverse();
  }
}
