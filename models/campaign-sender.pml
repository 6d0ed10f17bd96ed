/*
 * The campaign sender, model-checked (docs/model.md explains it; `npm run model` runs it).
 *
 * 2 contacts, 2 sender workers, one status-webhook consumer, the recovery schedule, fan-out,
 * the operator (create, start, pause/resume), and the world: SQS losing a doorbell, the provider
 * duplicating a status webhook. Each durable step that has a failpoint in the code is followed by
 * CRASHPOINT, tagged `@failpoint <name>`: at that point the process may die (everything written
 * before stays written) and its message is redelivered, exactly as `failpoint()` does in the code.
 *
 * Build switches (spin -D...):
 *   RETRY_ONCE          tenant policy unknownOutcome = "retry_once" (default: "hold")
 *   EVIDENCE_IN_WINDOW  assume the provider's status webhook arrives within the reconcile window
 *   PROGRESS            add the progress claim (verify with pan -a -f)
 *   MUT_*               one guard removed; the checker must find a counterexample
 *
 * Counters are folded from the change feed (issue 25's switch): no recipient write moves a count;
 * a fold process, at any moment, folds one contact's records so far (a batch: the deltas of its
 * records add up to "from the status last folded to the status now"), each record once (the
 * per-shard sequence-number guard in the shard's fold group item, tested against DynamoDB Local's
 * stream in counter-fold.test.ts, races and the move-in of per-shard counts included, is taken as
 * given here). Every prefix of a contact's records is a state the fold can leave, because it can
 * run between any two writes. The folded counts trail the recipients; completion reads them first
 * and the recipients themselves last (recovery, `anyInFlight`).
 */

#ifndef NC
#define NC 1          /* contacts: 1 or 2 */
#endif
#define MAXQ 2        /* doorbells per contact the queue may hold */
#ifndef MAXCRASH
#define MAXCRASH 1    /* crashes per run, at any failpoint */
#endif
#define MAXLOSS 1     /* SQS messages lost per run */
#define MAXTRANSIENT 1 /* transient provider refusals per run */
#define MAXDUP 1      /* duplicated status webhooks per run */

/* recipient statuses */
#define PENDING 0
#define SENDING 1
#define SENT 2
#define DELIVERED 3
#define FAILED 4
#define UNKNOWN 5
#define NSTATUS 6

/* campaign statuses */
#define DRAFT 0
#define RUNNING 1
#define PAUSED 2
#define COMPLETED 3

/* how far a status is along: provider evidence moves a recipient forward only */
#define RANK(s) ((s) == PENDING -> 0 : ((s) == SENT -> 2 : ((s) == DELIVERED -> 3 : 1)))

bool metaWritten;
bool exists[NC];
byte st[NC];
bool pmid[NC];        /* provider message id (wamid) stored */
byte attempts[NC];
byte unkRetries[NC];  /* unknown outcomes released for one more try (recorded) */
byte owner[NC];       /* lease owner */
bool inflight[NC];    /* the claiming handler still runs: reconcile window not yet passed */
byte sends[NC];       /* messages the provider really sent to the contact */
byte q[NC];           /* sends-queue doorbells per contact (visible) */
byte whS[NC];         /* "sent" status webhooks not yet acknowledged */
byte whD[NC];         /* "delivered" status webhooks not yet acknowledged */
byte cnt[NSTATUS];    /* the campaign's counts folded from the change feed */
#define UNFOLDED NSTATUS
byte fst[NC] = UNFOLDED; /* each contact's status as far as it is folded (UNFOLDED: not even its arrival) */
byte camp;
byte fq;              /* fan-out doorbells */
byte fanoutCursor;
bool fanoutDone;
byte crashes, losses, transients, dups;

#define CRASHPOINT(L) if :: crashes < MAXCRASH -> crashes++; goto L :: true -> skip fi

/* a recipient's status write (its stream record goes with it; no counter is written) */
inline setSt(c, s) {
  st[c] = s
}

#if defined(RETRY_ONCE) && !defined(EVIDENCE_IN_WINDOW)
/* the one documented case: a lost answer, no evidence within the window, one recorded retry */
#define SENDS_OK(c) (sends[c] <= 1 || (sends[c] == 2 && unkRetries[c] == 1))
#else
#define SENDS_OK(c) (sends[c] <= 1)
#endif

/* the provider accepts a message: it goes out, and its statuses will come back */
inline providerSends(c) {
  atomic {
    sends[c]++;
    assert(SENDS_OK(c));
    whS[c]++;
    whD[c]++
  }
}

#define N_IS(c, s) ((exists[c] && st[c] == (s)) -> 1 : 0)
#if NC > 1
#define COUNT(s) (N_IS(0, s) + N_IS(1, s))
#define ALL_EXIST (exists[0] && exists[1])
#else
#define COUNT(s) N_IS(0, s)
#define ALL_EXIST exists[0]
#endif
#define F_IS(c, s) ((exists[c] && fst[c] == (s)) -> 1 : 0)
#define CAUGHT_UP(c) (!exists[c] || fst[c] == st[c])
#if NC > 1
#define FCOUNT(s) (F_IS(0, s) + F_IS(1, s))
#define FOLDED (CAUGHT_UP(0) && CAUGHT_UP(1))
#else
#define FCOUNT(s) F_IS(0, s)
#define FOLDED CAUGHT_UP(0)
#endif
#define OK_FOR(s) (cnt[s] == FCOUNT(s) && (!FOLDED || cnt[s] == COUNT(s)))
/* the folded counts are what was folded, and once the feed is folded they equal the listing */
#define COUNTERS_OK (OK_FOR(PENDING) && OK_FOR(SENDING) && OK_FOR(SENT) && \
  OK_FOR(DELIVERED) && OK_FOR(FAILED) && OK_FOR(UNKNOWN))
/* what completion checks after the folded counts: the recipients (consistent reads) */
#ifdef MUT_FOLDED_ONLY
#define NONE_IN_FLIGHT true
#else
#define NONE_IN_FLIGHT (COUNT(PENDING) == 0 && COUNT(SENDING) == 0)
#endif

/* the reconcile window has passed since the claim: under the setting "window > call timeout and
 * > the handler's timeout", the handler that claimed has ended (answered, timed out or crashed) */
#ifdef MUT_SHORT_WINDOW
#define WINDOW_PASSED(c) true
#elif defined(EVIDENCE_IN_WINDOW)
#define WINDOW_PASSED(c) (!inflight[c] && whS[c] == 0 && whD[c] == 0)
#else
#define WINDOW_PASSED(c) (!inflight[c])
#endif

#ifdef MUT_NO_RERING
#define RING_DUE(c) false
#else
#define RING_DUE(c) (st[c] == PENDING && camp == RUNNING && q[c] < MAXQ)
#endif
#define DUE(c) (exists[c] && (RING_DUE(c) || (st[c] == SENDING && !pmid[c] && WINDOW_PASSED(c))))

/* the claim's condition (functions/campaigns/sender.ts, countedTransition from pending) */
#ifdef MUT_UNGUARDED_CLAIM
#define CLAIM_OK(c, a) (exists[c])
#elif defined(MUT_NO_PENDING_GUARD)
#define CLAIM_OK(c, a) (exists[c] && attempts[c] == (a) && !inflight[c])
#else
#define CLAIM_OK(c, a) (exists[c] && st[c] == PENDING && attempts[c] == (a) && !inflight[c])
#endif

active proctype operator() {
  byte i;
create:
  /* POST /v1/campaigns (the client retries with its Idempotency-Key until it gets an answer) */
  atomic { metaWritten = true; i = 0; CRASHPOINT(create) }; /* @failpoint campaign.create.after-meta */
  do
  :: atomic {
       i < NC ->
       if :: !exists[i] -> exists[i] = true; st[i] = PENDING :: else fi;
       i++;
       CRASHPOINT(create) /* @failpoint campaign.recipients.after-chunk */
     }
  :: else -> break
  od;
start:
  /* POST .../start: draft -> running, then ring the fan-out; starting twice is a no-op */
  atomic {
    i = 0;
    if :: camp == DRAFT -> camp = RUNNING :: else -> goto control fi;
    CRASHPOINT(start); /* @failpoint campaign.start.after-running */
    fq++
  };
control:
  /* at most one pause and one resume */
  if
  :: atomic { camp == RUNNING -> camp = PAUSED };
     atomic { camp == PAUSED -> camp = RUNNING }
  :: skip
  fi
}

active proctype fanout() {
end_idle:
  do
  :: atomic {
       fq > 0 && fanoutCursor < NC ->
       /* the page marked enqueued (one item holding its key range) */
       CRASHPOINT(end_idle) /* @failpoint campaign.fanout.after-mark */
     };
     atomic {
       if :: q[fanoutCursor] < MAXQ -> q[fanoutCursor]++ :: else fi;
       CRASHPOINT(end_idle) /* @failpoint campaign.fanout.after-enqueue */
     };
     atomic {
       fanoutCursor++;
       CRASHPOINT(end_idle) /* @failpoint campaign.fanout.after-batch */
     }
     /* a crash leaves the fan-out message in the queue: redelivered, resumes at the saved cursor */
  :: atomic { fq > 0 && fanoutCursor == NC -> fanoutDone = true; fq-- }
  od
}

#define FORGET c = 0; a = 0; mine = false

proctype sender(byte me) {
  byte c, a;
  bool mine;
end_idle:
  /* a doorbell; re-read the recipient (consistent read): skip unless pending */
  if
  :: atomic { q[0] > 0 -> q[0]--; c = 0 }
#if NC > 1
  :: atomic { q[1] > 0 -> q[1]--; c = 1 }
#endif
  fi;
  atomic {
    if :: !(exists[c] && st[c] == PENDING) -> FORGET; goto end_idle :: else fi;
    a = attempts[c]
  };
  /* the campaign (paused: drop the doorbell, recovery rings it after resume), then the claim:
     pending -> sending, lease, attempt, counters in one transaction */
  atomic {
    if :: camp != RUNNING -> FORGET; goto end_idle :: else fi;
    if
    :: CLAIM_OK(c, a) ->
       setSt(c, SENDING); owner[c] = me; attempts[c]++; inflight[c] = true; mine = true
    :: else -> FORGET; goto end_idle
    fi;
    CRASHPOINT(crashed) /* @failpoint campaign.send.after-claim */
  };
  /* the provider call */
  atomic {
    if
    :: providerSends(c);  /* accepted */
       CRASHPOINT(crashed) /* @failpoint campaign.send.after-provider-accepted */
    :: providerSends(c);  /* sent, but the answer was lost: unknown outcome, wait for evidence */
       inflight[c] = false; FORGET; goto end_idle
    :: inflight[c] = false; FORGET; goto end_idle /* timed out before the provider took it */
    :: transients < MAXTRANSIENT -> transients++;  /* refused, retryable */
       CRASHPOINT(crashed); /* @failpoint campaign.send.after-provider-rejected */
       if :: st[c] == SENDING && owner[c] == me && !pmid[c] -> setSt(c, PENDING) :: else fi;
       inflight[c] = false;
       q[c]++;  /* SendRetryError: the queue redelivers the message */
       FORGET; goto end_idle
    :: CRASHPOINT(crashed);  /* refused for good (the same failpoint as any refusal) */
       if :: st[c] == SENDING && owner[c] == me && !pmid[c] -> setSt(c, FAILED) :: else fi;
       inflight[c] = false; FORGET; goto end_idle
    fi
  };
  /* store the wamid: sending -> sent, unless a status webhook got there first; then ack */
  atomic {
    if :: st[c] == SENDING && !pmid[c] -> setSt(c, SENT); pmid[c] = true :: else fi;
    CRASHPOINT(crashed); /* @failpoint campaign.send.after-wamid-stored */
    inflight[c] = false; FORGET; goto end_idle
  };
crashed:
  atomic {
    if :: mine -> inflight[c] = false :: else fi;
    q[c]++;  /* not acknowledged: redelivered after the visibility timeout */
    FORGET
  };
  goto end_idle
}

/* POST /webhooks/whatsapp statuses, matched by the callback data, in any order, duplicated */
active proctype statuses() {
  byte c, k;
end_idle:
  do
  :: atomic {
       if
       :: whS[0] > 0 -> c = 0; k = SENT
#if NC > 1
       :: whS[1] > 0 -> c = 1; k = SENT
#endif
       :: whD[0] > 0 -> c = 0; k = DELIVERED
#if NC > 1
       :: whD[1] > 0 -> c = 1; k = DELIVERED
#endif
       fi;
       if :: RANK(k) > RANK(st[c]) -> setSt(c, k); pmid[c] = true :: else fi;
       if
       :: crashes < MAXCRASH -> crashes++ /* @failpoint campaign.status.after-apply */
          /* not answered: the provider delivers the webhook again */
       :: true -> if :: k == SENT -> whS[c]-- :: else -> whD[c]-- fi
       fi;
       c = 0; k = 0
     }
  od
}

/*
 * The recovery schedule. One run looks at every due recipient; here each look is one step, taken
 * for any contact at any time (a run is a sequence of them), so every interleaving of runs with
 * the senders is explored.
 */
active proctype recovery() {
  byte c;
  bool ring;
end_idle:
  do
  :: atomic {
       /* a contact is due (a look at a contact with nothing due changes nothing, so it is left
          out: the choice between a look and the steps below is not subject to fairness) */
       (camp == RUNNING || camp == PAUSED) && (DUE(0) || DUE(NC - 1)) ->
       if :: DUE(0) -> c = 0 :: DUE(NC - 1) -> c = NC - 1 fi;
       ring = false;
       if
#ifndef MUT_NO_RERING
       /* pending in a running campaign: ring again, whatever the queue holds */
       :: exists[c] && st[c] == PENDING && camp == RUNNING && q[c] < MAXQ -> ring = true
#endif
       /* sending, no wamid, the window passed with no evidence: the tenant's policy */
       :: exists[c] && st[c] == SENDING && !pmid[c] && WINDOW_PASSED(c) ->
#ifdef RETRY_ONCE
          if
          :: unkRetries[c] == 0 -> unkRetries[c]++; setSt(c, PENDING); ring = true
          :: else -> setSt(c, UNKNOWN)
          fi
#else
          setSt(c, UNKNOWN)
#endif
       :: else -> skip  /* nothing due for this contact */
       fi;
       CRASHPOINT(crashed) /* @failpoint campaign.recover.after-release */
     };
     atomic {
       if :: ring && q[c] < MAXQ -> q[c]++ :: else fi;
       c = 0; ring = false;
       CRASHPOINT(end_idle) /* @failpoint campaign.recover.after-enqueue */
     }
  :: atomic {
       /* fan-out that stopped before its end is rung again */
       !fanoutDone && fq == 0 && camp == RUNNING -> fq++
     }
  :: atomic {
       /* the folded counts first, then the recipients; the campaign's guarded move, once */
       camp == RUNNING && fanoutDone && ALL_EXIST &&
       cnt[PENDING] == 0 && cnt[SENDING] == 0 && NONE_IN_FLIGHT -> camp = COMPLETED
     }
  od;
crashed:
  atomic { c = 0; ring = false };
  goto end_idle
}

/* the world: SQS loses a message, the provider repeats a status */
active proctype chaos() {
end_idle:
  do
  :: atomic { losses < MAXLOSS && q[0] > 0 -> q[0]--; losses++ }
#if NC > 1
  :: atomic { losses < MAXLOSS && q[1] > 0 -> q[1]--; losses++ }
#endif
  :: atomic { losses < MAXLOSS && fq > 0 -> fq--; losses++ }
  :: atomic { dups < MAXDUP && whD[0] > 0 -> whD[0]++; dups++ }
  :: atomic { dups < MAXDUP && whS[0] > 0 -> whS[0]++; dups++ }
  od
}

/* the counter fold: one contact's records so far, folded once (their deltas in one write) */
active proctype fold() {
end_idle:
  do
  :: atomic {
       exists[0] && fst[0] != st[0] ->
       if :: fst[0] != UNFOLDED -> cnt[fst[0]]-- :: else fi;
       cnt[st[0]]++; fst[0] = st[0]
     }
#if NC > 1
  :: atomic {
       exists[1] && fst[1] != st[1] ->
       if :: fst[1] != UNFOLDED -> cnt[fst[1]]-- :: else fi;
       cnt[st[1]]++; fst[1] = st[1]
     }
#endif
  od
}

/* the folded counts equal the listing once the feed is folded; a completed campaign has no
   contact pending or sending */
active proctype counters() {
end_watch:
  atomic {
    (!COUNTERS_OK || (camp == COMPLETED && (COUNT(PENDING) != 0 || COUNT(SENDING) != 0))) ->
      assert(false)
  }
}

init {
  atomic { run sender(1); run sender(2) }
}

#ifdef PROGRESS
/* time passes even when every process waits: without it pan -f cannot see a run that stops short */
bool tick;
active proctype clock_ticks() {
end_tick:
  do :: tick = !tick od
}

/* every contact of a started campaign reaches a final status and the campaign completes */
ltl progress { <> (camp == COMPLETED) }
#endif
