"""Journeys at run time: scheduling, enrolment, the push outbox and its dispatcher."""
