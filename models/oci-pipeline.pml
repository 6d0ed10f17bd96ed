/*
 * Offline conversions to Google Ads, model-checked (docs/model.md; `npm run model`).
 *
 * One session with two calls, both sealed at once ("approve all"); two script exporters claiming
 * rows (GET /oci/google-ads-export) and acking them (POST /oci/ack); two API uploader runs that
 * overlap (uploadMode "api"; a run longer than the schedule's minute); the stale-processing
 * schedule; an operator who retracts the conversion at any moment; Google, which counts an orderId
 * once. Each durable step that has a failpoint in the code is followed by a possible crash, tagged
 * `@failpoint <name>`. Answers can be lost; Google can answer TOO_RECENT_EVENT.
 *
 * The uploader's lease is per request: claimed just before the request, and the call is cut before
 * the lease ends, so the stale recovery never takes a row whose request is in flight (`leased`);
 * a script's export has no such bound (its rows may go stale while it uploads: Google's orderId
 * dedupe covers that). A retraction withdraws a conversion Google never counted (`queued`, or,
 * in API mode, `retry` after a per-row "not counted" answer recorded under its request's claim; a
 * script's ack names no export, so its "not counted" may be a late answer about an older upload);
 * otherwise it marks the conversion and the claim refuses it from then on (the retraction's own
 * upload is not modelled). The session's row is in one mode, chosen at the start (both explored):
 * the exporters claim only a script-mode row, the uploaders only an API-mode row. Google counts
 * nothing it answers TOO_RECENT_EVENT for.
 *
 * Not modelled (the sync test accepts these names without a step):
 *   @not-modelled oci.retract.after-create (retraction: a separate adjustment row, not a conversion)
 *
 * Build switches (spin -D...): PROGRESS (progress claim, pan -a -f) and one of
 *   MUT_NO_SESSION_UNIQUE   the seal creates a conversion without the per-session uniqueness
 *   MUT_ORDERID_PER_UPLOAD  the orderId is not derived from the session (e.g. from a clock)
 *   MUT_NO_STALE_RECOVERY   rows stuck in processing are never returned to retry
 *   MUT_RUN_LEASE           one lease for a whole uploader run: it can end while a request is in flight
 *   MUT_CLAIM_IGNORES_RETRACT  the claim does not refuse a conversion with a retraction requested
 *   MUT_WITHDRAW_IN_FLIGHT  a retraction withdraws a conversion whose upload is in flight
 *   MUT_TRUST_SCRIPT_ACK    a script's per-row "not counted" ack makes the row known uncounted
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
#define WITHDRAWN 5

byte st[NR];           /* NONE: no such row */
byte attempts[NR];
bool sessionTaken;     /* the session's uniqueness item, written with the conversion */
byte rows;             /* conversion rows of the session */
byte uploads;          /* uploads Google received (any orderId) */
bool seenOrder[4];     /* Google's orderId deduplication */
byte counted;          /* conversions Google counts for the session */
byte crashes, lost, recent;
bool leased[NR];       /* an uploader request holds the row's lease (its call ends inside it) */
byte holder[NR];       /* the uploader whose request claimed the row */
bool uncounted;        /* the row waits in retry after Google said, row by row, it did not count it */
bool retractReq;       /* the operator asked for a retraction that must go to Google */
bool claimedAfterReq[NR]; /* claimed although a retraction was already requested */
bool apiMode;          /* the tenant's uploadMode: the API uploader's rows, else the script's */

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
  :: !seenOrder[ORDER_ID(r)] -> seenOrder[ORDER_ID(r)] = true; counted++;
     /* a withdrawn conversion, or one claimed after its retraction was asked for, is never counted */
     assert(st[r] != WITHDRAWN && !claimedAfterReq[r])
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

/* the guarded claim, shared by the export and the API uploader: queued|retry -> processing, and
 * never a conversion with a retraction requested */
#ifdef MUT_CLAIM_IGNORES_RETRACT
#define CLAIMABLE(r) (st[r] == QUEUED || st[r] == RETRY)
#else
#define CLAIMABLE(r) ((st[r] == QUEUED || st[r] == RETRY) && !retractReq)
#endif
inline claimed(r) {
  st[r] = PROCESSING; attempts[r]++; claimedAfterReq[r] = retractReq; uncounted = false
}

/* a script: GET /oci/google-ads-export, upload the CSV to Google, POST /oci/ack */
proctype exporter(byte me) {
  byte r;
  bool tooRecent;
end_idle:
  do
  :: atomic {
       if
       :: !apiMode && CLAIMABLE(0) -> r = 0
#ifdef MUT_NO_SESSION_UNIQUE
       :: !apiMode && CLAIMABLE(1) -> r = 1
#endif
       fi;
       claimed(r);
       CRASHPOINT(crashed) /* @failpoint oci.export.after-claim */
     };
     atomic {
       if
       :: lost < MAXLOST -> lost++; goto crashed  /* the export answer never reached the script */
       :: true -> skip
       fi;
       if
       /* refused, nothing counted; never once Google counted it (the click only grows older) */
       :: recent < MAXRECENT && !seenOrder[ORDER_ID(r)] -> recent++; tooRecent = true
       :: true -> tooRecent = false; googleReceives(r)
       fi
     };
     /* the script acks what Google answered (a dedupe answer is "completed" too) */
     atomic {
       if
       /* A row is in one mode only (its tenant's uploadMode; each mode claims from its own sweep
        * partition): a row under an uploader's lease is an api-mode row, which no script acks. */
       /* TOO_RECENT_EVENT: retry, not before 6 hours. The ack names no export: it may land on a
        * newer claim of the row, whose upload Google counted, so it proves nothing uncounted. */
       :: tooRecent ->
          if :: st[r] == PROCESSING && !leased[r] -> st[r] = RETRY;
#ifdef MUT_TRUST_SCRIPT_ACK
             uncounted = true
#else
             skip
#endif
          :: else fi
       :: else -> if :: (st[r] == PROCESSING || st[r] == RETRY) && !leased[r] -> st[r] = COMPLETED :: else fi
       fi;
       CRASHPOINT(crashed); /* @failpoint oci.ack.after-first-row */
       r = 0
     }
crashed:
     atomic { r = 0 }
  od
}

/* uploadMode "api": the service uploads through uploadClickConversions itself; two runs overlap.
 * Each request claims its rows under its own lease just before it is sent. */
active [2] proctype uploader() {
  byte r;
  bool tooRecent;
end_idle:
  do
  :: atomic {
       if
       :: apiMode && CLAIMABLE(0) -> r = 0
#ifdef MUT_NO_SESSION_UNIQUE
       :: apiMode && CLAIMABLE(1) -> r = 1
#endif
       fi;
       claimed(r); leased[r] = true; holder[r] = _pid + 1;
       CRASHPOINT(crashed) /* @failpoint oci.upload.after-claim */
     };
     atomic {
       /* nothing is sent past its lease: no recovery or other request has taken the row (a
        * script's late ack may still settle it: the model shares one row between both modes) */
       assert(holder[r] == _pid + 1);
       if
       :: lost < MAXLOST -> lost++;  /* request-level error, timeout or lost answer: unknown */
          if :: googleReceives(r) :: skip fi;
          if :: st[r] == PROCESSING && holder[r] == _pid + 1 -> st[r] = RETRY :: else fi;
          goto crashed
       /* refused, nothing counted; never once Google counted it (the click only grows older) */
       :: recent < MAXRECENT && !seenOrder[ORDER_ID(r)] -> recent++; tooRecent = true
       :: true -> tooRecent = false; googleReceives(r)
       fi;
       CRASHPOINT(crashed) /* @failpoint oci.upload.after-google-answer */
     };
     /* the answer is recorded under the request's claim */
     atomic {
       if
       :: st[r] == PROCESSING && holder[r] == _pid + 1 ->
          if
          :: tooRecent -> st[r] = RETRY; uncounted = true  /* bound to this request's claim */
          :: else -> st[r] = COMPLETED
          fi
       :: else -> skip
       fi;
       CRASHPOINT(crashed); /* @failpoint oci.upload.after-first-result */
       r = 0
     }
crashed:
     /* the request is over (answered, or its process died): its lease no longer holds the row
      * once it expires */
     atomic { if :: holder[r] == _pid + 1 -> leased[r] = false; holder[r] = 0 :: else fi; r = 0 }
  od
}

/* rows stuck in processing past ONCEFLOW_OCI_STALE_SECONDS go back to retry (same orderId).
 * No timing is assumed: the reset may overtake an uploader that still holds the row. */
active proctype staleRecovery() {
end_idle:
  do
#ifndef MUT_NO_STALE_RECOVERY
#ifdef MUT_RUN_LEASE
  /* one lease for the whole run: it can expire while a later request of the run is in flight */
  :: atomic { st[0] == PROCESSING -> st[0] = RETRY; leased[0] = false; holder[0] = 0; CRASHPOINT(end_idle) } /* @failpoint oci.stale.after-first-reset */
#else
  :: atomic { st[0] == PROCESSING && !leased[0] -> st[0] = RETRY; holder[0] = 0; CRASHPOINT(end_idle) } /* @failpoint oci.stale.after-first-reset */
#endif
#ifdef MUT_NO_SESSION_UNIQUE
  :: atomic { st[1] == PROCESSING -> st[1] = RETRY }
#endif
#else
  :: false
#endif
  od
}

#ifndef PROGRESS
/* POST /v1/conversions/oci/{conversionId}/retract, once, at any moment */
active proctype retractor() {
  atomic {
    st[0] != NONE ->
    if
#ifdef MUT_WITHDRAW_IN_FLIGHT
    :: st[0] == QUEUED || st[0] == RETRY || st[0] == PROCESSING -> st[0] = WITHDRAWN
#else
    /* never counted: withdrawn, one conditional write racing the claim */
    :: st[0] == QUEUED || (st[0] == RETRY && uncounted) -> st[0] = WITHDRAWN
#endif
       /* withdrawn: Google has not counted it (and `googleReceives` checks it never will) */
       ; assert(!seenOrder[ORDER_ID(0)])
    :: else -> retractReq = true  /* maybe counted: a retraction row goes to Google */
    fi
  }
}
#endif

init {
  atomic {
    if :: apiMode = true :: apiMode = false fi;
    run seal(1); run seal(2); run exporter(1); run exporter(2)
  }
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
