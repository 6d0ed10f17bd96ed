/*
 * Offline conversions to Google Ads, model-checked (docs/model.md; `npm run model`).
 *
 * One session with two calls, both sealed at once ("approve all"); two script exporters claiming
 * rows (GET /oci/google-ads-export) and acking them (POST /oci/ack); one API uploader
 * (uploadMode "api"); the stale-processing schedule; Google, which counts an orderId once.
 * Each durable step that has a failpoint in the code is followed by a possible crash, tagged
 * `@failpoint <name>`. Answers can be lost; Google can answer TOO_RECENT_EVENT.
 *
 * Not modelled (the sync test accepts these names without a step):
 *   @not-modelled oci.retract.after-create (retraction: a separate adjustment row, not a conversion)
 *
 * Build switches (spin -D...): PROGRESS (progress claim, pan -a -f) and one of
 *   MUT_NO_SESSION_UNIQUE   the seal creates a conversion without the per-session uniqueness
 *   MUT_ORDERID_PER_UPLOAD  the orderId is not derived from the session (e.g. from a clock)
 *   MUT_NO_STALE_RECOVERY   rows stuck in processing are never returned to retry
 */

#define NR 2           /* conversion rows the store could hold for the session (one expected) */
#define MAXCRASH 1
#define MAXLOST 1      /* answers lost between us and Google, or between a script and us */
#define MAXRECENT 1    /* TOO_RECENT_EVENT answers */

#define NONE 0
#define QUEUED 1
#define PROCESSING 2
#define RETRY 3
#define COMPLETED 4

byte st[NR];           /* NONE: no such row */
byte attempts[NR];
bool sessionTaken;     /* the session's uniqueness item, written with the conversion */
byte rows;             /* conversion rows of the session */
byte uploads;          /* uploads Google received (any orderId) */
bool seenOrder[4];     /* Google's orderId deduplication */
byte counted;          /* conversions Google counts for the session */
byte crashes, lost, recent;

#define CRASHPOINT(L) if :: crashes < MAXCRASH -> crashes++; goto L :: true -> skip fi

/* the orderId: from tenant and session, the same for every row and every upload */
#ifdef MUT_ORDERID_PER_UPLOAD
#define ORDER_ID(r) ((uploads % 4))
#else
#define ORDER_ID(r) 1
#endif

/* Google receives an upload: counted once per orderId */
inline googleReceives(r) {
  if
  :: !seenOrder[ORDER_ID(r)] -> seenOrder[ORDER_ID(r)] = true; counted++
  :: else -> skip  /* ORDER_ID_ALREADY_IN_USE / DUPLICATE_ORDER_ID */
  fi;
  uploads++;
  assert(counted <= 1)
}

/* POST /v1/calls/{callId}/seal, for each call of the session at once, retried after a crash */
proctype seal(byte call) {
again:
  atomic {
#ifdef MUT_NO_SESSION_UNIQUE
    if :: rows < NR -> st[rows] = QUEUED; rows++ :: else fi;
#else
    /* one transaction: the conversion and the session item (attribute_not_exists) */
    if :: !sessionTaken -> sessionTaken = true; st[rows] = QUEUED; rows++ :: else fi;
#endif
    assert(rows <= 1);
    CRASHPOINT(again) /* @failpoint oci.seal.after-create */
  }
}

/* the guarded claim, shared by the export and the API uploader: queued|retry -> processing */
#define CLAIMABLE(r) (st[r] == QUEUED || st[r] == RETRY)

/* a script: GET /oci/google-ads-export, upload the CSV to Google, POST /oci/ack */
proctype exporter(byte me) {
  byte r;
end_idle:
  do
  :: atomic {
       if
       :: CLAIMABLE(0) -> r = 0
#ifdef MUT_NO_SESSION_UNIQUE
       :: CLAIMABLE(1) -> r = 1
#endif
       fi;
       st[r] = PROCESSING; attempts[r]++;
       CRASHPOINT(crashed) /* @failpoint oci.export.after-claim */
     };
     atomic {
       if
       :: lost < MAXLOST -> lost++; goto crashed  /* the export answer never reached the script */
       :: true -> skip
       fi;
       googleReceives(r)
     };
     /* the script acks what Google answered (a dedupe answer is "completed" too) */
     atomic {
       if
       :: recent < MAXRECENT -> recent++;  /* TOO_RECENT_EVENT: retry, not before 6 hours */
          if :: st[r] == PROCESSING -> st[r] = RETRY :: else fi
       :: true -> if :: st[r] != COMPLETED -> st[r] = COMPLETED :: else fi
       fi;
       CRASHPOINT(crashed); /* @failpoint oci.ack.after-first-row */
       r = 0
     }
crashed:
     atomic { r = 0 }
  od
}

/* uploadMode "api": the service uploads through uploadClickConversions itself */
active proctype uploader() {
  byte r;
end_idle:
  do
  :: atomic {
       if
       :: CLAIMABLE(0) -> r = 0
#ifdef MUT_NO_SESSION_UNIQUE
       :: CLAIMABLE(1) -> r = 1
#endif
       fi;
       st[r] = PROCESSING; attempts[r]++;
       CRASHPOINT(crashed) /* @failpoint oci.upload.after-claim */
     };
     atomic {
       if
       :: lost < MAXLOST -> lost++;  /* request-level error, timeout or lost answer: unknown */
          if :: googleReceives(r) :: skip fi;
          if :: st[r] == PROCESSING -> st[r] = RETRY :: else fi;
          goto crashed
       :: true -> googleReceives(r)
       fi;
       CRASHPOINT(crashed) /* @failpoint oci.upload.after-google-answer */
     };
     atomic {
       if
       :: recent < MAXRECENT -> recent++;
          if :: st[r] == PROCESSING -> st[r] = RETRY :: else fi
       :: true -> if :: st[r] != COMPLETED -> st[r] = COMPLETED :: else fi
       fi;
       CRASHPOINT(crashed); /* @failpoint oci.upload.after-first-result */
       r = 0
     }
crashed:
     atomic { r = 0 }
  od
}

/* rows stuck in processing past ONCEFLOW_OCI_STALE_SECONDS go back to retry (same orderId).
 * No timing is assumed: the reset may overtake an uploader that still holds the row. */
active proctype staleRecovery() {
end_idle:
  do
#ifndef MUT_NO_STALE_RECOVERY
  :: atomic { st[0] == PROCESSING -> st[0] = RETRY; CRASHPOINT(end_idle) } /* @failpoint oci.stale.after-first-reset */
#ifdef MUT_NO_SESSION_UNIQUE
  :: atomic { st[1] == PROCESSING -> st[1] = RETRY }
#endif
#else
  :: false
#endif
  od
}

init {
  atomic { run seal(1); run seal(2); run exporter(1); run exporter(2) }
}

#ifdef PROGRESS
/* time passes even when every process waits: without it pan -f cannot see a run that stops short */
bool tick;
active proctype clock_ticks() {
end_tick:
  do :: tick = !tick od
}

/* the session's conversion is completed and Google counts it */
ltl progress { <> (st[0] == COMPLETED && counted == 1) }
#endif
