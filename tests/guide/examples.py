"""Every Python example of the original system's developer guide, in the guide's order, as its
users would paste them: the code is the guide's, only the import lines name `provenance`.

What the guide leaves to the reader (`train_data`, `test_data`, `model`, the training itself)
is defined in the blocks marked GLUE; nothing else is added. Run by
tests/guide/test_guide_examples.py in a fresh folder holding the guide's
`configs/blockchain_config.json` (its node URLs pointed at the test's own nodes).
"""

# ---- GLUE: what the guide's examples assume exists (a small dataset and model)
from glue import model, test_data, train_data

# ---- Installation & Setup, "Verify Installation"
from provenance import ProvenanceBlockchainTracker; print('✅ Installation successful')

# ---- Configuration, "Update your training config to include blockchain settings"
config = {
    "epochs": 5,
    "batch_size": 64,
    "learning_rate": 0.001,
    "hash_algorithm": "blake3",
    "blockchain": {
        "networks": ["ipfs", "ethereum"],
        "ipfs": {"url": "http://localhost:5001"},
        "ethereum": {
            "rpc_url": "http://127.0.0.1:8545",
            "private_key": "your_private_key"
        }
    }
}

# ---- Usage Examples
from provenance import ProvenanceTracker
import json
# Load configuration
with open('configs/blockchain_config.json', 'r') as f:
    config = json.load(f)
# Initialize tracker with blockchain support
provenance_tracker = ProvenanceTracker(config=config)
# Track data and model
provenance_tracker.track_data(train_data, test_data)
provenance_tracker.track_model(model)
# Store pre-training hash on blockchain
training_config = {"epochs": 5, "batch_size": 32}
before_transactions = provenance_tracker.store_merkle_on_blockchain_before_training(training_config)
# ... training process ...
# Store post-training hash on blockchain
training_results = {"accuracy": 0.95, "loss": 0.1}
after_transactions = provenance_tracker.store_merkle_on_blockchain_after_training(training_results)
# Verify blockchain provenance
verification_results = provenance_tracker.verify_blockchain_provenance()
# Save reports
provenance_tracker.save_blockchain_report()
provenance_tracker.save()
# Get blockchain status
status = provenance_tracker.get_blockchain_status()
print(f"Blockchain enabled: {status['blockchain_enabled']}")
print(f"Stored hashes: {status['stored_hashes']}")
# Verify specific networks
verification = provenance_tracker.verify_blockchain_provenance()
if verification['chain_integrity']:
    print("✅ Provenance chain integrity verified!")
else:
    print("❌ Provenance chain integrity failed!")
# Custom blockchain configuration
custom_config = {
    "blockchain": {
        "networks": ["ipfs"],
        "ipfs": {"url": "http://custom-ipfs-node:5001"}
    }
}
provenance_tracker = ProvenanceTracker(config=custom_config)

# ---- Troubleshooting, "Enable debug logging"
import logging
logging.basicConfig(level=logging.DEBUG)
# Or in configuration
config["blockchain"]["debug"] = True

# ---- Best Practices, "Configuration Management"
import os
config = {
    "ethereum": {
        "private_key": os.getenv("ETH_PRIVATE_KEY"),
        "rpc_url": os.getenv("ETH_RPC_URL", "http://127.0.0.1:8545")
    }
}

# ---- Best Practices, "Error Handling"
try:
    transactions = provenance_tracker.store_merkle_on_blockchain_before_training(config)
    if transactions:
        print("✅ Blockchain storage successful")
    else:
        print("⚠️ Blockchain storage failed")
except Exception as e:
    print(f"❌ Error: {e}")
    # Fallback to local storage only

# ---- Best Practices, "Monitoring"
logger = logging.getLogger("guide")
# Monitor blockchain status
status = provenance_tracker.get_blockchain_status()
if not status['blockchain_enabled']:
    logger.warning("Blockchain tracking disabled")
# Monitor verification results
verification = provenance_tracker.verify_blockchain_provenance()
if not verification['chain_integrity']:
    logger.error("Provenance chain integrity failed")
