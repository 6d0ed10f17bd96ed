/*
 * The conversion ledger, model-checked (docs/model.md; `npm run model`).
 *
 * One user, one work queue (unsigned_users waits for signature_obtained), up to two stays (join,
 * leave, join again). The user converts at some moment (during a stay or outside any); the event
 * reaches POST /v1/users/{userId}/events later, maybe after the user left, maybe never (a client
 * that gives up after a crash). Pre-call validation, the cleanup sweep and the reconciliation
 * schedule race the event handler and the operator's DELETE. Each durable step with a failpoint in
 * the code is followed by a possible crash, tagged `@failpoint <name>`.
 *
 * Build switches (spin -D...): PROGRESS (progress claim, pan -a -f) and one of
 *   MUT_NO_ATTR_NOT_EXISTS  the conversion is written without attribute_not_exists
 *   MUT_NO_SWEEPS           neither the cleanup sweep nor the reconciliation runs
 */

#define NS 3           /* stay ids 1..2; 0 = not in the queue */
#define MAXCRASH 1

byte curStay;          /* the user's current stay, 0 when not a member */
byte nextStay = 1;
bool evidence[NS];     /* evidence of the queue's event type, by the stay it occurred in (0: none) */
bool applied[NS];      /* the evidence was applied: out of the sweep index */
byte conv[NS];         /* conversions logged per stay */
byte pendingEvent;     /* the stay tag of the event on its way to the API (0: none) */
bool eventSent;        /* the user converted (once) */
byte crashes;
bool gaveUp;           /* the event's client gave up after a crash */

#define CRASHPOINT(L) if :: crashes < MAXCRASH -> crashes++; goto L :: true -> skip fi

/* one conditional write decides each conversion: (user, type, stay) with attribute_not_exists */
inline logConversion(s) {
#ifdef MUT_NO_ATTR_NOT_EXISTS
  conv[s]++;
#else
  if :: conv[s] == 0 -> conv[s] = 1 :: else -> skip fi;
#endif
  assert(conv[s] <= 1)
}

/* the operator: PUT (join), DELETE (leave for another reason), PUT again (a new stay) */
active proctype membership() {
end_idle:
  do
  :: atomic { curStay == 0 && nextStay < NS -> curStay = nextStay; nextStay++ }
  :: atomic { curStay != 0 -> curStay = 0 }  /* DELETE: leaving for another reason */
  :: nextStay == NS -> break
  od;
end_done:
  skip
}

/* the user converts once, at any moment; the event carries occurredAt, i.e. the stay it fell in */
active proctype user() {
  atomic { !eventSent -> eventSent = true; pendingEvent = curStay + 10 }
}

/*
 * Applying evidence (functions/ledger/resolve.ts), the same routine for every source: close the
 * stay that holds the evidence if still open (guarded on the stay), log the conversion
 * (attribute_not_exists), mark the evidence applied (it leaves the sweep index). Evidence that
 * fell in no stay is only marked applied.
 */
#define CLOSE_STAY(s) if :: s != 0 && curStay == s -> curStay = 0 :: else -> skip fi
#define LOG(s) if :: s != 0 -> logConversion(s) :: else -> skip fi
#define MARK_APPLIED(s) applied[s] = true

/* POST /v1/users/{userId}/events: store the evidence, then apply it */
active proctype events() {
  byte s;
end_idle:
  do
  :: atomic {
       pendingEvent != 0 -> s = pendingEvent - 10;
       evidence[s] = true;
       CRASHPOINT(crashed) /* @failpoint ledger.event.after-evidence */
     };
     atomic { CLOSE_STAY(s); CRASHPOINT(crashed) }; /* @failpoint ledger.event.after-leave */
     atomic { LOG(s); CRASHPOINT(crashed) }; /* @failpoint ledger.event.after-conversion */
     atomic { MARK_APPLIED(s); pendingEvent = 0; s = 0 };
     goto end_idle;
crashed:
     /* a 5xx: the client retries the POST, or gives up */
     atomic { if :: gaveUp = true; pendingEvent = 0 :: skip fi; s = 0 }
  od
}

/* POST /v1/work-queues/{queueType}/validate: the listed user, if evidence holds its stay */
active proctype validation() {
  byte s;
end_idle:
  do
  :: atomic { curStay != 0 && evidence[curStay] && !applied[curStay] -> s = curStay };
     atomic { CLOSE_STAY(s); CRASHPOINT(crashed) }; /* @failpoint ledger.pre_call_validation.after-leave */
     atomic { LOG(s); CRASHPOINT(crashed) }; /* @failpoint ledger.pre_call_validation.after-conversion */
     atomic { MARK_APPLIED(s); s = 0; CRASHPOINT(end_idle) } /* @failpoint ledger.pre_call_validation.after-user */
crashed:
     atomic { s = 0 }
  od
}

/* the cleanup sweep and the reconciliation: every evidence still pending in the sweep index */
#ifndef MUT_NO_SWEEPS
active proctype cleanup() {
  byte s;
end_idle:
  do
  :: atomic {
       if :: evidence[0] && !applied[0] -> s = 0 :: evidence[1] && !applied[1] -> s = 1
       :: evidence[2] && !applied[2] -> s = 2 fi
     };
     atomic { CLOSE_STAY(s); CRASHPOINT(crashed) }; /* @failpoint ledger.cleanup.after-leave */
     atomic { LOG(s); CRASHPOINT(crashed) }; /* @failpoint ledger.cleanup.after-conversion */
     atomic { MARK_APPLIED(s); s = 0; CRASHPOINT(end_idle) } /* @failpoint ledger.cleanup.after-item */
crashed:
     atomic { s = 0 }
  od
}

/* counted in ConversionsReconciled, which should stay 0 */
active proctype reconciliation() {
  byte s;
end_idle:
  do
  :: atomic {
       if :: evidence[0] && !applied[0] -> s = 0 :: evidence[1] && !applied[1] -> s = 1
       :: evidence[2] && !applied[2] -> s = 2 fi
     };
     atomic { CLOSE_STAY(s); CRASHPOINT(crashed) }; /* @failpoint ledger.reconciliation.after-leave */
     atomic { LOG(s); CRASHPOINT(crashed) }; /* @failpoint ledger.reconciliation.after-conversion */
     atomic { MARK_APPLIED(s); s = 0; CRASHPOINT(end_idle) } /* @failpoint ledger.reconciliation.after-item */
crashed:
     atomic { s = 0 }
  od
}
#endif


#ifdef PROGRESS
/* time passes even when every process waits: without it pan -f cannot see a run that stops short */
bool tick;
active proctype clock_ticks() {
end_tick:
  do :: tick = !tick od
}

/* once the schedules have run: every stay with evidence has its conversion */
ltl progress { <> [] ((!evidence[1] || conv[1] == 1) && (!evidence[2] || conv[2] == 1)) }
#endif
