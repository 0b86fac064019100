"""Payment providers behind one interface: Stripe (card, Apple Pay, Google Pay), Razorpay
(UPI and cards in India), the open-banking QR provider, and sandboxes for the demo."""
