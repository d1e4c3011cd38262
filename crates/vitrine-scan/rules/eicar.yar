// The EICAR test file: the standard, harmless way to check that a scanner
// detects something. The string is split in two so that this rule file is
// not itself an EICAR file.
rule EICAR_Test_File
{
    meta:
        author = "Vitrine team"
        description = "EICAR anti-virus test file (harmless)"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"
    strings:
        $head = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
        $tail = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $head at 0 and $tail at 28 and filesize <= 128
}
